/**
 * Writes a random-weight ViT-GPT2 captioner in the Hugging Face layout of
 * Xenova/vit-gpt2-image-captioning:
 *
 *   <dir>/config.json, generation_config.json, preprocessor_config.json
 *   <dir>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   (GPT-2 byte-level BPE)
 *   <dir>/onnx/encoder_model.onnx          pixel_values -> last_hidden_state   (+ q8, fp16 variants)
 *   <dir>/onnx/decoder_model_merged.onnx   the merged decoder contract (gpt2-decoder-model.ts) (+ q8)
 *
 * The decoder has no fp16 variant yet: the real fp16 decoders take a float16 cache, a contract
 * of its own.
 *
 *   const dir = await ensureVitGpt2Model(VIT_GPT2_TINY, { cacheDir: '/tmp/mis-models' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DTYPE_SUFFIX } from '../dtypes.js';
import { buildGpt2DecoderGraph } from './gpt2-decoder-model.js';
import { gpt2TokenizerFiles } from './gpt2-tokenizer.js';
import { ensureGeneratedModel } from './model-cache.js';
import { quantizeDynamic } from './quantize-dynamic.js';
import { saveWithVariants } from './save-variants.js';
import { buildVitGraph, vitPreprocessorJson } from './vit-model.js';
import { checkVitGpt2Spec, vitGpt2ConfigJson, vitGpt2GenerationConfigJson, type VitGpt2Spec } from './vit-gpt2-model.js';

/** Writes the model files into `dir` (no caching). */
export async function writeVitGpt2Model(dir: string, spec: VitGpt2Spec): Promise<void> {
  checkVitGpt2Spec(spec);
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  const tokenizer = gpt2TokenizerFiles({ vocabSize: spec.decoder.vocabSize });
  const onnxDir = path.join(dir, 'onnx');
  await mkdir(onnxDir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), json(vitGpt2ConfigJson(spec)));
  await writeFile(path.join(dir, 'generation_config.json'), json(vitGpt2GenerationConfigJson(spec)));
  await writeFile(path.join(dir, 'preprocessor_config.json'), json(vitPreprocessorJson('current', spec.encoder.imageSize)));
  await writeFile(path.join(dir, 'tokenizer.json'), json(tokenizer.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), json(tokenizer.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), json(tokenizer.specialTokensMap));
  await saveWithVariants(buildVitGraph(spec.encoder, 'encoder'), onnxDir, 'encoder_model');
  const decoder = buildGpt2DecoderGraph(spec.decoder);
  await decoder.save(path.join(onnxDir, 'decoder_model_merged.onnx'));
  await quantizeDynamic(decoder).save(path.join(onnxDir, `decoder_model_merged${DTYPE_SUFFIX.q8}.onnx`));
}

export async function ensureVitGpt2Model(spec: VitGpt2Spec, options: { cacheDir: string }): Promise<string> {
  return ensureGeneratedModel({ cacheDir: options.cacheDir, kind: 'vit-gpt2', params: { spec }, write: (dir) => writeVitGpt2Model(dir, spec) });
}
