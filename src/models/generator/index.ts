/** Random-weight test models in the real Hugging Face layouts and ONNX contracts. */
export {
  OnnxGraphBuilder,
  DEFAULT_OPSET,
  DEFAULT_IR_VERSION,
  DEFAULT_EXTERNAL_DATA_THRESHOLD,
  type AttrValue,
  type Dim,
  type DType,
  type NodeOptions,
  type SaveOptions,
  type TensorData,
} from './onnx-graph-builder.js';
export { SeededRandom } from './seeded-random.js';
export { ensureGeneratedModel, generatedModelKey, type GeneratedModelOptions } from './model-cache.js';
export {
  buildVitGraph,
  buildVitOnnx,
  vitConfigJson,
  vitLabels,
  vitNumPatches,
  vitPreprocessorJson,
  VIT_BASE,
  VIT_DEMO,
  VIT_SLOW,
  VIT_TINY,
  type VitSpec,
} from './vit-model.js';
export { ensureVitModel, writeVitModel, type EnsureVitModelOptions } from './generate-vit.js';
export { quantizeDynamic } from './quantize-dynamic.js';
export { toFloat16 } from './float16-variant.js';
export { saveWithVariants } from './save-variants.js';
export { CLIP_BOS_TOKEN, CLIP_EOS_TOKEN, clipTokenizerFiles, type ClipTokenizerFiles } from './clip-tokenizer.js';
export {
  buildClipCombinedGraph,
  buildClipTextGraph,
  buildClipVisionGraph,
  clipConfigJson,
  clipNumPatches,
  clipPreprocessorJson,
  clipVocabSize,
  CLIP_B32,
  CLIP_LOGIT_SCALE,
  CLIP_TINY,
  CLIP_DEMO,
  type ClipSpec,
} from './clip-model.js';
export { ensureClipModel, writeClipModel, type EnsureClipModelOptions } from './generate-clip.js';
export { GPT2_EOS_TOKEN, GPT2_VOCAB_SIZE, gpt2TokenizerFiles } from './gpt2-tokenizer.js';
export { BERT_CLS_ID, BERT_MASK_ID, BERT_PAD_ID, BERT_SEP_ID, BERT_UNK_ID, BLIP_DEC_ID, BLIP_DEC_TOKEN, BLIP_ENC_ID, BLIP_ENC_TOKEN, BLIP_VOCAB_SIZE, bertMinVocabSize, bertTokenizerFiles, type BertTokenizerFiles } from './bert-tokenizer.js';
export { buildGpt2DecoderGraph, type Gpt2Spec } from './gpt2-decoder-model.js';
export { vitGpt2ConfigJson, vitGpt2EosId, vitGpt2GenerationConfigJson, VIT_GPT2_BASE, VIT_GPT2_DEMO, VIT_GPT2_TINY, type VitGpt2Spec } from './vit-gpt2-model.js';
export { ensureVitGpt2Model, writeVitGpt2Model } from './generate-vit-gpt2.js';
export { BLIP_BASE, BLIP_DEMO, BLIP_TINY, BLIP_TOKENS, blipCacheNames, blipConfigJson, blipPreprocessorJson, type BlipSpec } from './blip-model.js';
export { buildBlipTextDecoderGraph, type BlipTextSpec } from './blip-text-decoder-model.js';
export { ensureBlipModel, writeBlipModel } from './generate-blip.js';
export {
  buildSmolVlmDecoderGraph,
  buildSmolVlmEmbedTokensGraph,
  buildSmolVlmVisionGraph,
  smolVlmConfigJson,
  smolVlmEmbedTokens,
  smolVlmGenerationConfigJson,
  smolVlmImageSeqLen,
  smolVlmPreprocessorJson,
  smolVlmProcessorConfigJson,
  SMOLVLM_256M,
  SMOLVLM_DEMO,
  SMOLVLM_TINY,
  type SmolVlmDecoderOptions,
  type SmolVlmSpec,
  type SmolVlmTextSpec,
  type SmolVlmVisionSpec,
} from './smolvlm-model.js';
export { SMOLVLM_CHAT_TEMPLATE, SMOLVLM_SPECIAL_TOKENS, SMOLVLM_TOKENS, smolVlmTokenizerFiles, type SmolVlmTokenizerFiles } from './smolvlm-tokenizer.js';
export { ensureSmolVlmModel, writeSmolVlmModel } from './generate-smolvlm.js';
