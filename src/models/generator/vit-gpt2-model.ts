/**
 * A random-weight vision-encoder-decoder captioner in the layout of
 * Xenova/vit-gpt2-image-captioning: a ViT encoder (`encoder_model.onnx`: pixel_values →
 * last_hidden_state) and a GPT-2 decoder with cross-attention (`decoder_model_merged.onnx`,
 * gpt2-decoder-model.ts). Start, end and pad are all `<|endoftext|>`, the last id of the
 * vocabulary (50256 in the real 50257).
 *
 *   const dir = await ensureVitGpt2Model(VIT_GPT2_TINY, { cacheDir });
 */
import type { Gpt2Spec } from './gpt2-decoder-model.js';
import { GPT2_VOCAB_SIZE } from './gpt2-tokenizer.js';
import { vitConfigJson, VIT_BASE, VIT_DEMO, VIT_TINY, type VitSpec } from './vit-model.js';

export interface VitGpt2Spec {
  /** Its hidden size is the decoder's (cross-attention reads the image tokens as they are). */
  encoder: VitSpec;
  decoder: Gpt2Spec;
}

/** For tests: the real vocabulary size and token ids (50256 = <|endoftext|>), tiny layers. */
export const VIT_GPT2_TINY: VitGpt2Spec = {
  encoder: { ...VIT_TINY, seed: 4321 },
  decoder: { vocabSize: GPT2_VOCAB_SIZE, maxPositions: 1024, hiddenSize: VIT_TINY.hiddenSize, numLayers: 2, numHeads: 2, layerNormEps: 1e-5, seed: 8765 },
};

/** For `npm run demo`: the demo ViT's encoder (DeiT-Tiny dimensions) and a 4-layer decoder of its width. */
export const VIT_GPT2_DEMO: VitGpt2Spec = {
  encoder: { ...VIT_DEMO, seed: 4321 },
  decoder: { vocabSize: GPT2_VOCAB_SIZE, maxPositions: 1024, hiddenSize: VIT_DEMO.hiddenSize, numLayers: 4, numHeads: 3, layerNormEps: 1e-5, seed: 8765 },
};

/** nlpconnect/vit-gpt2-image-captioning's dimensions (ViT-B/16 + GPT-2 small, ~240M parameters): the benchmark model. */
export const VIT_GPT2_BASE: VitGpt2Spec = {
  encoder: { ...VIT_BASE, seed: 4321 },
  decoder: { vocabSize: GPT2_VOCAB_SIZE, maxPositions: 1024, hiddenSize: 768, numLayers: 12, numHeads: 12, layerNormEps: 1e-5, seed: 8765 },
};

/** The id that starts, ends and pads a caption: the vocabulary's last. */
export function vitGpt2EosId(spec: VitGpt2Spec): number {
  return spec.decoder.vocabSize - 1;
}

export function checkVitGpt2Spec(spec: VitGpt2Spec): void {
  if (spec.encoder.hiddenSize !== spec.decoder.hiddenSize) {
    throw new Error(`encoder hidden size ${spec.encoder.hiddenSize} differs from the decoder's ${spec.decoder.hiddenSize} (the real export has no projection between them)`);
  }
}

/** `config.json` of a VisionEncoderDecoderModel, marked `_generated.random_weights`. */
export function vitGpt2ConfigJson(spec: VitGpt2Spec): Record<string, unknown> {
  const eos = vitGpt2EosId(spec);
  const { _generated, id2label, label2id, architectures, ...encoder } = vitConfigJson(spec.encoder);
  const d = spec.decoder;
  return {
    _generated: { random_weights: true, seed: d.seed, generator: 'multimodal-inference-server' },
    architectures: ['VisionEncoderDecoderModel'],
    model_type: 'vision-encoder-decoder',
    is_encoder_decoder: true,
    decoder_start_token_id: eos,
    eos_token_id: eos,
    pad_token_id: eos,
    tie_word_embeddings: false,
    encoder: { ...encoder, architectures: ['ViTModel'] },
    decoder: {
      model_type: 'gpt2',
      architectures: ['GPT2LMHeadModel'],
      add_cross_attention: true,
      is_decoder: true,
      activation_function: 'gelu_new',
      vocab_size: d.vocabSize,
      n_positions: d.maxPositions,
      n_ctx: d.maxPositions,
      n_embd: d.hiddenSize,
      n_layer: d.numLayers,
      n_head: d.numHeads,
      layer_norm_epsilon: d.layerNormEps,
      bos_token_id: eos,
      eos_token_id: eos,
      decoder_start_token_id: eos,
      pad_token_id: eos,
    },
    transformers_version: '4.51.3',
  };
}

/** `generation_config.json` as the real repo ships it. */
export function vitGpt2GenerationConfigJson(spec: VitGpt2Spec): Record<string, unknown> {
  const eos = vitGpt2EosId(spec);
  return { bos_token_id: eos, decoder_start_token_id: eos, eos_token_id: eos, pad_token_id: eos, transformers_version: '4.51.3' };
}
