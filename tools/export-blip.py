"""Exports a Hugging Face BLIP captioner (BlipForConditionalGeneration, e.g.
Salesforce/blip-image-captioning-base or -large) to the ONNX contract this server defines for
BLIP (docs/architecture.md, "Model contracts it implements", "BLIP captioner"):

    <out>/config.json, preprocessor_config.json
    <out>/tokenizer.json, tokenizer_config.json, special_tokens_map.json, vocab.txt
    <out>/onnx/vision_model.onnx             pixel_values [B, 3, 384, 384] -> last_hidden_state [B, 577, vision_hidden]
    <out>/onnx/decoder_model.onnx            the first step (the prompt): logits and every present
    <out>/onnx/decoder_with_past_model.onnx  every later step: logits and the self-attention presents
    (with --quantize also <out>/onnx/*_quantized.onnx: int8 MatMul weights)

Usage (needs Python with torch and transformers; onnxruntime only for --quantize):

    pip install torch transformers onnxruntime
    python tools/export-blip.py --out models/blip-base
    python tools/export-blip.py --model Salesforce/blip-image-captioning-large --out models/blip-large --quantize
    npm start -- --model-dir blip=models/blip-base

Why not transformers' own forward: BLIP's text decoder recomputes the cross-attention keys and
values from the image tokens at every step, and derives positions from the past length. The
contract computes the cross-attention keys and values once (the first step returns them as
present.{i}.encoder.key|value, the later steps take them back as past_key_values) and takes
position_ids as an input so that left-padded rows of different lengths share a step. So the two
decoder graphs below re-implement the text decoder's forward (BERT post-LayerNorm layers with
causal self-attention, cross-attention to the image tokens, exact erf GELU, and the prediction
head tied to the word embeddings) from the model's own submodules and weights.

`export_blip(model, out_dir)` and `write_configs(model, processor, out_dir)` take any module with
transformers' BLIP submodule layout (model.vision_model, model.text_decoder.bert.{embeddings,
encoder.layer[i]}, model.text_decoder.cls.predictions, model.config.text_config), so a test can
export a small hand-written model without transformers (test/fixtures/export_torch_blip.py).
transformers is imported only by main().
"""
import argparse
import inspect
import json
import math
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

# Added to the attention scores of masked positions: large enough that softmax gives them 0,
# small enough that adding it to a score never overflows float32 (torch.finfo(float32).min could).
MASKED = -1e9

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# BLIP's special ids (text_config): [DEC] starts a caption, [SEP] ends it, [PAD] pads.
TOKEN_DEFAULTS = {"bos_token_id": 30522, "sep_token_id": 102, "pad_token_id": 0, "eos_token_id": 2}


def _get(obj, name, default=None):
    """An attribute of a config object, or a key of a config dict."""
    if obj is None:
        return default
    if isinstance(obj, dict):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _num_heads(model):
    text_config = _get(getattr(model, "config", None), "text_config")
    heads = _get(text_config, "num_attention_heads")
    if heads is None:
        # The first layer's self-attention may know (transformers' BlipTextSelfAttention does).
        heads = getattr(model.text_decoder.bert.encoder.layer[0].attention.self, "num_attention_heads", None)
    if heads is None:
        raise ValueError("cannot tell the text decoder's number of attention heads: set model.config.text_config.num_attention_heads")
    return int(heads)


class _BlipTextDecoder(nn.Module):
    """The shared math of both decoder graphs, on the model's own text decoder submodules."""

    def __init__(self, model):
        super().__init__()
        self.bert = model.text_decoder.bert
        self.cls = model.text_decoder.cls
        self.num_heads = _num_heads(model)
        self.hidden_size = self.bert.embeddings.word_embeddings.embedding_dim
        if self.hidden_size % self.num_heads != 0:
            raise ValueError(f"hidden size {self.hidden_size} is not a multiple of {self.num_heads} heads")
        self.head_dim = self.hidden_size // self.num_heads
        self.num_layers = len(self.bert.encoder.layer)

    def _split_heads(self, x):
        """[B, L, hidden] -> [B, heads, L, head_dim]."""
        return x.view(x.shape[0], x.shape[1], self.num_heads, self.head_dim).transpose(1, 2)

    def _merge_heads(self, x):
        """[B, heads, L, head_dim] -> [B, L, hidden]."""
        x = x.transpose(1, 2)
        return x.reshape(x.shape[0], x.shape[1], self.hidden_size)

    def _attend(self, query, key, value, bias):
        scores = torch.matmul(query, key.transpose(-1, -2)) / math.sqrt(self.head_dim) + bias
        return self._merge_heads(torch.matmul(torch.softmax(scores, dim=-1), value))

    @staticmethod
    def _self_bias(attention_mask, length):
        """[B, 1, L, P + L]: 0 where the query at position P + q may see key k (k <= P + q and the
        mask keeps k), MASKED elsewhere. P (the past length) is the mask's length minus L."""
        total = attention_mask.shape[1]
        keys = torch.arange(total, device=attention_mask.device)
        queries = torch.arange(length, device=attention_mask.device) + (total - length)
        causal = keys.unsqueeze(0) <= queries.unsqueeze(1)
        allowed = causal.unsqueeze(0).unsqueeze(0) & attention_mask.unsqueeze(1).unsqueeze(2).bool()
        return (1.0 - allowed.to(torch.float32)) * MASKED

    @staticmethod
    def _cross_bias(encoder_attention_mask):
        """[B, 1, 1, S]: 0 over the image tokens the mask keeps, MASKED elsewhere."""
        return (1.0 - encoder_attention_mask.unsqueeze(1).unsqueeze(2).to(torch.float32)) * MASKED

    def _embed(self, input_ids, position_ids):
        embeddings = self.bert.embeddings
        return embeddings.LayerNorm(embeddings.word_embeddings(input_ids) + embeddings.position_embeddings(position_ids))

    def cross_key_value(self, layer, encoder_hidden_states):
        attention = layer.crossattention.self
        return self._split_heads(attention.key(encoder_hidden_states)), self._split_heads(attention.value(encoder_hidden_states))

    def run_layers(self, x, self_bias, cross_bias, caches):
        """caches[i] = (past_key or None, past_value or None, cross_key, cross_value); returns the
        hidden states and each layer's full self-attention (key, value)."""
        presents = []
        for layer, (past_key, past_value, cross_key, cross_value) in zip(self.bert.encoder.layer, caches):
            attention = layer.attention.self
            query = self._split_heads(attention.query(x))
            key = self._split_heads(attention.key(x))
            value = self._split_heads(attention.value(x))
            if past_key is not None:
                key = torch.cat([past_key, key], dim=2)
                value = torch.cat([past_value, value], dim=2)
            presents.append((key, value))
            out = layer.attention.output
            x = out.LayerNorm(out.dense(self._attend(query, key, value, self_bias)) + x)

            cross_query = self._split_heads(layer.crossattention.self.query(x))
            out = layer.crossattention.output
            x = out.LayerNorm(out.dense(self._attend(cross_query, cross_key, cross_value, cross_bias)) + x)

            up = F.gelu(layer.intermediate.dense(x))  # exact (erf) GELU, as BERT's "gelu"
            x = layer.output.LayerNorm(layer.output.dense(up) + x)
        return x, presents

    def logits(self, x):
        predictions = self.cls.predictions
        transformed = predictions.transform.LayerNorm(F.gelu(predictions.transform.dense(x)))
        decoder = predictions.decoder
        bias = decoder.bias if getattr(decoder, "bias", None) is not None else predictions.bias
        # decoder.weight is the word embeddings (tied), [vocab, hidden].
        return F.linear(transformed, decoder.weight, bias)


class BlipDecoderFirstStep(_BlipTextDecoder):
    """decoder_model.onnx: (input_ids, attention_mask, position_ids, encoder_hidden_states,
    encoder_attention_mask) -> logits, then per layer present.{i}.decoder.key, .decoder.value,
    .encoder.key, .encoder.value."""

    def forward(self, input_ids, attention_mask, position_ids, encoder_hidden_states, encoder_attention_mask):
        x = self._embed(input_ids, position_ids)
        self_bias = self._self_bias(attention_mask, input_ids.shape[1])
        cross_bias = self._cross_bias(encoder_attention_mask)
        crosses = [self.cross_key_value(layer, encoder_hidden_states) for layer in self.bert.encoder.layer]
        x, presents = self.run_layers(x, self_bias, cross_bias, [(None, None, k, v) for k, v in crosses])
        outputs = [self.logits(x)]
        for (key, value), (cross_key, cross_value) in zip(presents, crosses):
            outputs += [key, value, cross_key, cross_value]
        return tuple(outputs)

    def output_names(self):
        names = ["logits"]
        for i in range(self.num_layers):
            names += [f"present.{i}.decoder.key", f"present.{i}.decoder.value", f"present.{i}.encoder.key", f"present.{i}.encoder.value"]
        return names


class BlipDecoderWithPast(_BlipTextDecoder):
    """decoder_with_past_model.onnx: (input_ids, attention_mask, position_ids,
    encoder_attention_mask, then per layer past_key_values.{i}.decoder.key, .decoder.value,
    .encoder.key, .encoder.value) -> logits, then per layer present.{i}.decoder.key, .value."""

    def forward(self, input_ids, attention_mask, position_ids, encoder_attention_mask, *past_key_values):
        if len(past_key_values) != 4 * self.num_layers:
            raise ValueError(f"expected {4 * self.num_layers} past tensors, got {len(past_key_values)}")
        x = self._embed(input_ids, position_ids)
        self_bias = self._self_bias(attention_mask, input_ids.shape[1])
        cross_bias = self._cross_bias(encoder_attention_mask)
        caches = [tuple(past_key_values[4 * i : 4 * i + 4]) for i in range(self.num_layers)]
        x, presents = self.run_layers(x, self_bias, cross_bias, caches)
        outputs = [self.logits(x)]
        for key, value in presents:
            outputs += [key, value]
        return tuple(outputs)

    def past_names(self):
        names = []
        for i in range(self.num_layers):
            names += [f"past_key_values.{i}.decoder.key", f"past_key_values.{i}.decoder.value", f"past_key_values.{i}.encoder.key", f"past_key_values.{i}.encoder.value"]
        return names

    def output_names(self):
        names = ["logits"]
        for i in range(self.num_layers):
            names += [f"present.{i}.decoder.key", f"present.{i}.decoder.value"]
        return names


class BlipVision(nn.Module):
    """vision_model.onnx: pixel_values -> last_hidden_state (the vision model's first output)."""

    def __init__(self, model):
        super().__init__()
        self.vision_model = model.vision_model

    def forward(self, pixel_values):
        out = self.vision_model(pixel_values=pixel_values)
        if isinstance(out, torch.Tensor):
            return out
        if hasattr(out, "last_hidden_state"):
            return out.last_hidden_state
        return out[0]


def _onnx_export(module, args, path, **options):
    """torch.onnx.export with the TorchScript exporter (torch >= 2.9 defaults to dynamo=True, which
    reads dynamic_axes differently)."""
    if "dynamo" in inspect.signature(torch.onnx.export).parameters:
        options["dynamo"] = False
    torch.onnx.export(module, args, str(path), **options)


def _image_size(model):
    return int(_get(_get(getattr(model, "config", None), "vision_config"), "image_size", 384) or 384)


def export_blip(model, out_dir, opset=14):
    """Writes <out_dir>/onnx/{vision_model,decoder_model,decoder_with_past_model}.onnx; returns their paths."""
    out = Path(out_dir)
    onnx_dir = out / "onnx"
    onnx_dir.mkdir(parents=True, exist_ok=True)
    model = model.eval()
    vision, first, with_past = BlipVision(model).eval(), BlipDecoderFirstStep(model).eval(), BlipDecoderWithPast(model).eval()
    paths = {name: onnx_dir / f"{name}.onnx" for name in ("vision_model", "decoder_model", "decoder_with_past_model")}
    batch = {0: "batch_size"}

    size = _image_size(model)
    device = next(model.parameters()).device
    with torch.no_grad():
        # Batch 2 and lengths that differ from each other, so that no size is mistaken for another.
        pixel_values = torch.randn(2, 3, size, size, device=device)
        _onnx_export(
            vision, (pixel_values,), paths["vision_model"],
            input_names=["pixel_values"], output_names=["last_hidden_state"],
            dynamic_axes={"pixel_values": batch, "last_hidden_state": {0: "batch_size", 1: "encoder_sequence_length"}},
            opset_version=opset, do_constant_folding=True,
        )
        encoder_hidden_states = vision(pixel_values)
        encoder_tokens = encoder_hidden_states.shape[1]

        length = 3
        input_ids = torch.tensor([[TOKEN_DEFAULTS["bos_token_id"], 1037, 2000], [0, TOKEN_DEFAULTS["bos_token_id"], 1037]], dtype=torch.int64, device=device)
        attention_mask = torch.tensor([[1, 1, 1], [0, 1, 1]], dtype=torch.int64, device=device)
        position_ids = torch.tensor([[0, 1, 2], [0, 0, 1]], dtype=torch.int64, device=device)
        encoder_attention_mask = torch.ones(2, encoder_tokens, dtype=torch.int64, device=device)
        sequence = {0: "batch_size", 1: "decoder_sequence_length"}
        encoder_sequence = {0: "batch_size", 1: "encoder_sequence_length"}
        first_axes = {"input_ids": sequence, "attention_mask": sequence, "position_ids": sequence,
                      "encoder_hidden_states": encoder_sequence, "encoder_attention_mask": encoder_sequence,
                      "logits": sequence}
        for name in first.output_names()[1:]:
            first_axes[name] = {0: "batch_size", 2: "encoder_sequence_length" if ".encoder." in name else "decoder_sequence_length"}
        first_inputs = (input_ids, attention_mask, position_ids, encoder_hidden_states, encoder_attention_mask)
        _onnx_export(
            first, first_inputs, paths["decoder_model"],
            input_names=["input_ids", "attention_mask", "position_ids", "encoder_hidden_states", "encoder_attention_mask"],
            output_names=first.output_names(), dynamic_axes=first_axes,
            opset_version=opset, do_constant_folding=True,
        )

        # The with-past example continues the first step's rows by one token.
        presents = first(*first_inputs)[1:]
        step_ids = torch.tensor([[2003], [2003]], dtype=torch.int64, device=device)
        step_mask = torch.cat([attention_mask, torch.ones(2, 1, dtype=torch.int64, device=device)], dim=1)
        step_positions = torch.tensor([[length], [length - 1]], dtype=torch.int64, device=device)
        past = {0: "batch_size", 2: "past_decoder_sequence_length"}
        grown = "past_decoder_sequence_length + 1"
        step_axes = {"input_ids": sequence, "position_ids": sequence, "attention_mask": {0: "batch_size", 1: grown},
                     "encoder_attention_mask": encoder_sequence, "logits": sequence}
        for name in with_past.past_names():
            step_axes[name] = {0: "batch_size", 2: "encoder_sequence_length"} if ".encoder." in name else past
        for name in with_past.output_names()[1:]:
            step_axes[name] = {0: "batch_size", 2: grown}
        _onnx_export(
            with_past, (step_ids, step_mask, step_positions, encoder_attention_mask, *presents), paths["decoder_with_past_model"],
            input_names=["input_ids", "attention_mask", "position_ids", "encoder_attention_mask", *with_past.past_names()],
            output_names=with_past.output_names(), dynamic_axes=step_axes,
            opset_version=opset, do_constant_folding=True,
        )
    return paths


def _config_dict(config):
    if config is None:
        return {}
    if hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if isinstance(config, dict):
        return dict(config)
    return {key: (_config_dict(value) if hasattr(value, "__dict__") and not isinstance(value, (str, int, float, bool, list)) else value)
            for key, value in vars(config).items() if not key.startswith("_")}


def write_configs(model, processor, out_dir):
    """Writes <out_dir>/config.json (the model's own config with the contract's fields checked
    against its modules) and <out_dir>/preprocessor_config.json (BlipImageProcessor's, from the
    processor when given)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = _config_dict(getattr(model, "config", None))
    config["model_type"] = "blip"
    config.setdefault("architectures", ["BlipForConditionalGeneration"])

    bert = model.text_decoder.bert
    layer = bert.encoder.layer[0]
    text = dict(config.get("text_config") or {})
    text.setdefault("model_type", "blip_text_model")
    text.update({
        "vocab_size": bert.embeddings.word_embeddings.num_embeddings,
        "hidden_size": bert.embeddings.word_embeddings.embedding_dim,
        "encoder_hidden_size": layer.crossattention.self.key.in_features,
        "num_hidden_layers": len(bert.encoder.layer),
        "num_attention_heads": _num_heads(model),
        "intermediate_size": layer.intermediate.dense.out_features,
        "max_position_embeddings": bert.embeddings.position_embeddings.num_embeddings,
        "layer_norm_eps": bert.embeddings.LayerNorm.eps,
    })
    text.setdefault("hidden_act", "gelu")
    text.setdefault("is_decoder", True)
    for key, value in TOKEN_DEFAULTS.items():
        if text.get(key) is None:
            text[key] = value
    config["text_config"] = text

    vision = dict(config.get("vision_config") or {})
    vision.setdefault("model_type", "blip_vision_model")
    vision["hidden_size"] = text["encoder_hidden_size"]
    vision.setdefault("image_size", _image_size(model))
    config["vision_config"] = vision
    (out / "config.json").write_text(json.dumps(config, indent=2, default=str) + "\n")

    size = int(vision["image_size"])
    preprocessor = {
        "do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
        "image_mean": CLIP_MEAN, "image_processor_type": "BlipImageProcessor", "image_std": CLIP_STD,
        "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 1 / 255,
        "size": {"height": size, "width": size},
    }
    image_processor = getattr(processor, "image_processor", None) if processor is not None else None
    if image_processor is not None:
        for key in ("do_convert_rgb", "do_normalize", "do_rescale", "do_resize", "image_mean", "image_std", "resample", "rescale_factor", "size"):
            value = getattr(image_processor, key, None)
            if value is not None:
                preprocessor[key] = dict(value) if isinstance(value, dict) else (list(value) if isinstance(value, tuple) else value)
        if hasattr(preprocessor["resample"], "value"):  # a PIL/transformers enum
            preprocessor["resample"] = int(preprocessor["resample"].value)
    (out / "preprocessor_config.json").write_text(json.dumps(preprocessor, indent=2) + "\n")


def quantize(paths):
    """Writes <name>_quantized.onnx next to each graph (int8 MatMul weights), if onnxruntime is installed."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError:
        print("--quantize: onnxruntime is not installed (pip install onnxruntime); skipped the *_quantized.onnx variants")
        return []
    written = []
    for path in paths:
        path = Path(path)
        target = path.with_name(f"{path.stem}_quantized.onnx")
        quantize_dynamic(str(path), str(target), op_types_to_quantize=["MatMul"], weight_type=QuantType.QInt8)
        written.append(target)
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description="Export a Hugging Face BLIP captioner to this server's ONNX contract.")
    parser.add_argument("--model", default="Salesforce/blip-image-captioning-base", help="hub id or local folder of a BlipForConditionalGeneration")
    parser.add_argument("--out", required=True, help="folder to write (Hugging Face layout, graphs under onnx/)")
    parser.add_argument("--opset", type=int, default=14)
    parser.add_argument("--quantize", action="store_true", help="also write *_quantized.onnx (int8 MatMul weights; needs onnxruntime)")
    args = parser.parse_args(argv)
    try:
        from transformers import BlipForConditionalGeneration, BlipProcessor
    except ImportError:
        sys.exit("transformers is not installed: pip install torch transformers onnxruntime")

    model = BlipForConditionalGeneration.from_pretrained(args.model).float().eval()
    processor = BlipProcessor.from_pretrained(args.model)
    out = Path(args.out)
    paths = export_blip(model, out, opset=args.opset)
    write_configs(model, processor, out)
    processor.tokenizer.save_pretrained(str(out))
    for path in paths.values():
        print(f"wrote {path}")
    for path in quantize(paths.values()) if args.quantize else []:
        print(f"wrote {path}")
    print(f"serve it: npm start -- --model-dir blip={out}")


if __name__ == "__main__":
    main()
