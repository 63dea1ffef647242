/**
 * Writes a random-weight ViT in the Hugging Face layout transformers.js and our loader read:
 *
 *   <dir>/config.json
 *   <dir>/preprocessor_config.json
 *   <dir>/onnx/model.onnx            (+ model.onnx_data if the weights pass 2 GB)
 *   <dir>/onnx/model_quantized.onnx  the q8 variant (quantize-dynamic.ts)
 *
 *   const dir = await ensureVitModel(VIT_TINY, { cacheDir: '/tmp/mis-models' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ensureGeneratedModel } from './model-cache.js';
import { saveWithVariants } from './save-variants.js';
import { buildVitGraph, vitConfigJson, vitPreprocessorJson, type VitSpec } from './vit-model.js';

export interface EnsureVitModelOptions {
  /** Parent folder of generated models; the model gets its own subfolder. */
  cacheDir: string;
  /** Which preprocessor_config.json form to write (default 'current'). */
  preprocessor?: 'current' | 'legacy';
}

/** Writes the model files into `dir` (no caching). */
export async function writeVitModel(dir: string, spec: VitSpec, preprocessor: 'current' | 'legacy' = 'current'): Promise<void> {
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  await writeFile(path.join(dir, 'config.json'), json(vitConfigJson(spec)));
  await writeFile(path.join(dir, 'preprocessor_config.json'), json(vitPreprocessorJson(preprocessor, spec.imageSize)));
  await saveWithVariants(buildVitGraph(spec), path.join(dir, 'onnx'), 'model');
}

/** Returns the folder of the generated model, generating it once per spec and generator version. */
export async function ensureVitModel(spec: VitSpec, options: EnsureVitModelOptions): Promise<string> {
  const preprocessor = options.preprocessor ?? 'current';
  return ensureGeneratedModel({
    cacheDir: options.cacheDir,
    kind: 'vit',
    params: { spec, preprocessor },
    write: (dir) => writeVitModel(dir, spec, preprocessor),
  });
}
