/**
 * Specs and configuration files of random-weight BLIP captioners (BlipForConditionalGeneration:
 * a ViT vision model at 384×384 and a BERT text decoder with cross-attention), in the layout of
 * Salesforce/blip-image-captioning-base with this server's ONNX contract (generate-blip.ts).
 *
 *   const dir = await ensureBlipModel(BLIP_TINY, { cacheDir });
 */
import type { BlipTextSpec } from './blip-text-decoder-model.js';
import { BLIP_VOCAB_SIZE } from './bert-tokenizer.js';
import { VIT_BASE, VIT_DEMO, VIT_TINY, type VitSpec } from './vit-model.js';

export interface BlipSpec {
  vision: VitSpec;
  text: BlipTextSpec;
}

/** BLIP's special ids: [DEC] starts a caption, [SEP] ends it, [PAD] pads. */
export const BLIP_TOKENS = { pad: 0, sep: 102, bos: 30522 } as const;

const VISION = { imageSize: 384, patchSize: 16, layerNormEps: 1e-5, seed: 2468 } as const;
const TEXT = { vocabSize: BLIP_VOCAB_SIZE, maxPositions: 512, layerNormEps: 1e-12, seed: 1357 } as const;

/** For tests: 577 image tokens of width 32, two text layers. */
export const BLIP_TINY: BlipSpec = {
  vision: { ...VIT_TINY, ...VISION },
  text: { ...TEXT, hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64 },
};

/** For `npm run demo`: DeiT-Tiny-sized vision, a four-layer text decoder. */
export const BLIP_DEMO: BlipSpec = {
  vision: { ...VIT_DEMO, ...VISION },
  text: { ...TEXT, hiddenSize: 192, numLayers: 4, numHeads: 3, intermediateSize: 768 },
};

/** Salesforce/blip-image-captioning-base's dimensions (ViT-B/16 at 384, BERT-base decoder): the benchmark model. */
export const BLIP_BASE: BlipSpec = {
  vision: { ...VIT_BASE, ...VISION },
  text: { ...TEXT, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072 },
};

/** `config.json` of a BlipForConditionalGeneration, marked `_generated.random_weights`. */
export function blipConfigJson(spec: BlipSpec): Record<string, unknown> {
  const { vision: v, text: t } = spec;
  return {
    _generated: { random_weights: true, seed: t.seed, generator: 'multimodal-inference-server' },
    architectures: ['BlipForConditionalGeneration'],
    model_type: 'blip',
    image_text_hidden_size: 256,
    projection_dim: 512,
    initializer_factor: 1.0,
    text_config: {
      model_type: 'blip_text_model',
      vocab_size: t.vocabSize,
      hidden_size: t.hiddenSize,
      encoder_hidden_size: v.hiddenSize,
      num_hidden_layers: t.numLayers,
      num_attention_heads: t.numHeads,
      intermediate_size: t.intermediateSize,
      max_position_embeddings: t.maxPositions,
      hidden_act: 'gelu',
      layer_norm_eps: t.layerNormEps,
      is_decoder: true,
      use_cache: true,
      // generate() ends captions on sep_token_id, as BlipForConditionalGeneration does.
      bos_token_id: BLIP_TOKENS.bos,
      eos_token_id: 2,
      sep_token_id: BLIP_TOKENS.sep,
      pad_token_id: BLIP_TOKENS.pad,
    },
    vision_config: {
      model_type: 'blip_vision_model',
      hidden_size: v.hiddenSize,
      image_size: v.imageSize,
      patch_size: v.patchSize,
      num_channels: v.numChannels,
      num_hidden_layers: v.numLayers,
      num_attention_heads: v.numHeads,
      intermediate_size: v.intermediateSize,
      hidden_act: 'gelu',
      layer_norm_eps: v.layerNormEps,
    },
    transformers_version: '4.51.3',
  };
}

/** `preprocessor_config.json` as Salesforce/blip-image-captioning-base ships it (CLIP's mean and std, bicubic). */
export function blipPreprocessorJson(spec: BlipSpec): Record<string, unknown> {
  const size = spec.vision.imageSize;
  return {
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_processor_type: 'BlipImageProcessor',
    image_std: [0.26862954, 0.26130258, 0.27577711],
    processor_class: 'BlipProcessor',
    resample: 3,
    rescale_factor: 1 / 255,
    size: { height: size, width: size },
  };
}

/** The contract's cache names for `layers` layers: every past → its present, and the self-attention (growing) pasts. */
export function blipCacheNames(layers: number): { pastToPresent: Record<string, string>; growingPasts: string[] } {
  const pairs = (side: string) => Array.from({ length: layers }, (_, i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${side}.${kv}`, `present.${i}.${side}.${kv}`] as const)).flat();
  return { pastToPresent: Object.fromEntries([...pairs('decoder'), ...pairs('encoder')]), growingPasts: pairs('decoder').map(([past]) => past) };
}
