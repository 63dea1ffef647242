/**
 * Writes a random-weight CLIP in the Hugging Face layout of Xenova/clip-vit-base-patch32:
 *
 *   <dir>/config.json, preprocessor_config.json
 *   <dir>/tokenizer.json, tokenizer_config.json, special_tokens_map.json
 *   <dir>/onnx/text_model.onnx     input_ids -> text_embeds, last_hidden_state
 *   <dir>/onnx/vision_model.onnx   pixel_values -> image_embeds, last_hidden_state
 *   <dir>/onnx/{text,vision}_model_quantized.onnx   the towers' q8 variants (quantize-dynamic.ts)
 *   <dir>/onnx/model.onnx          input_ids, pixel_values, attention_mask -> logits_per_image, ...
 *   (each + <file>_data if its weights pass 2 GB)
 *
 *   const dir = await ensureClipModel(CLIP_TINY, { cacheDir: '/tmp/mis-models' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildClipCombinedGraph, buildClipTextGraph, buildClipVisionGraph, clipConfigJson, clipPreprocessorJson, clipVocabSize, type ClipSpec } from './clip-model.js';
import { clipTokenizerFiles } from './clip-tokenizer.js';
import { ensureGeneratedModel } from './model-cache.js';
import { saveWithVariants } from './save-variants.js';

export interface EnsureClipModelOptions {
  /** Parent folder of generated models; the model gets its own subfolder. */
  cacheDir: string;
}

/** Writes the model files into `dir` (no caching). Graphs are built one at a time to bound memory. */
export async function writeClipModel(dir: string, spec: ClipSpec): Promise<void> {
  clipVocabSize(spec); // throws early when vocabSize is below the tokenizer's
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  const tokenizer = clipTokenizerFiles();
  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  await writeFile(path.join(dir, 'config.json'), json(clipConfigJson(spec)));
  await writeFile(path.join(dir, 'preprocessor_config.json'), json(clipPreprocessorJson(spec)));
  await writeFile(path.join(dir, 'tokenizer.json'), json(tokenizer.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), json(tokenizer.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), json(tokenizer.specialTokensMap));
  await saveWithVariants(buildClipTextGraph(spec), path.join(dir, 'onnx'), 'text_model');
  await saveWithVariants(buildClipVisionGraph(spec), path.join(dir, 'onnx'), 'vision_model');
  await buildClipCombinedGraph(spec).save(path.join(dir, 'onnx', 'model.onnx'));
}

/** Returns the folder of the generated model, generating it once per spec and generator version. */
export async function ensureClipModel(spec: ClipSpec, options: EnsureClipModelOptions): Promise<string> {
  return ensureGeneratedModel({
    cacheDir: options.cacheDir,
    kind: 'clip',
    params: { spec },
    write: (dir) => writeClipModel(dir, spec),
  });
}
