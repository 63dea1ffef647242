/**
 * Reading a model folder in the Hugging Face ONNX layout (what transformers.js loads):
 * config.json, preprocessor_config.json, tokenizer files, onnx/<name>[_variant].onnx.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { DTYPE_SUFFIX, type Dtype } from './dtypes.js';
import { fixedOutputSize, parseImageProcessorConfig, type ImageProcessorSettings } from './image/index.js';

export class ModelFolderError extends Error {
  override name = 'ModelFolderError';
}

export async function readJsonFile<T = unknown>(dir: string, name: string): Promise<T> {
  const file = path.join(dir, name);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new ModelFolderError(`${file} not found: a Hugging Face ONNX model folder needs ${name}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new ModelFolderError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}

/** Where the graph of session `name` in `variant` may be: `onnx/<name><dtype suffix>.onnx`, or the older flat layout. */
function onnxCandidates(dir: string, name: string, variant: Dtype): string[] {
  const file = `${name}${DTYPE_SUFFIX[variant]}.onnx`;
  return [path.join(dir, 'onnx', file), path.join(dir, file)];
}

/** Path of `onnx/<name><dtype suffix>.onnx`; the older flat layout `<name>.onnx` also works. */
export function onnxFile(dir: string, name: string, variant: Dtype): string {
  const candidates = onnxCandidates(dir, name, variant);
  const found = candidates.find((candidate) => existsSync(candidate));
  if (!found) throw new ModelFolderError(`no ${variant} ONNX graph in ${dir}: looked for ${candidates.join(' and ')}`);
  return found;
}

/** Whether the folder has the graph of session `name` in `variant`. */
export function hasOnnxFile(dir: string, name: string, variant: Dtype): boolean {
  return onnxCandidates(dir, name, variant).some((candidate) => existsSync(candidate));
}

/**
 * The folder's `preprocessor_config.json`, with the one fixed output size batching needs:
 * `pixel_values` of [3, height, width] per item. An integer `size` reads as a square for ViT
 * processors and as the shortest edge for CLIP's (HF `get_size_dict(default_to_square=...)`).
 */
export async function loadFolderImageProcessor(
  dir: string,
  defaultToSquare: boolean,
): Promise<{ image: ImageProcessorSettings; itemDims: [number, number, number] }> {
  const image = parseImageProcessorConfig(await readJsonFile(dir, 'preprocessor_config.json'), {
    defaultToSquare,
    source: `${dir}/preprocessor_config.json`,
  });
  const size = fixedOutputSize(image);
  return { image, itemDims: [3, size.height, size.width] };
}
