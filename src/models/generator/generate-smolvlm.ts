/**
 * Writes a random-weight SmolVLM visual-chat model in the Hugging Face layout of
 * HuggingFaceTB/SmolVLM-256M-Instruct (docs/architecture.md, "Model contracts it implements"):
 *
 *   <dir>/config.json, generation_config.json, preprocessor_config.json, processor_config.json
 *   <dir>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   (byte-level BPE + chat template)
 *   <dir>/onnx/vision_encoder.onnx          pixel_values, pixel_attention_mask → image_features   (+ q8)
 *   <dir>/onnx/embed_tokens.onnx            input_ids → inputs_embeds                             (+ q8: the same Gather)
 *   <dir>/onnx/decoder_model_merged.onnx    the Llama decoder with its KV cache (smolvlm-model.ts) (+ q8)
 *
 *   const dir = await ensureSmolVlmModel(SMOLVLM_TINY, { cacheDir: '/tmp/mis-models' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DTYPE_SUFFIX } from '../dtypes.js';
import { ensureGeneratedModel } from './model-cache.js';
import type { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { quantizeDynamic } from './quantize-dynamic.js';
import {
  buildSmolVlmDecoderGraph,
  buildSmolVlmEmbedTokensGraph,
  buildSmolVlmVisionGraph,
  checkSmolVlmSpec,
  smolVlmConfigJson,
  smolVlmGenerationConfigJson,
  smolVlmPreprocessorJson,
  smolVlmProcessorConfigJson,
  type SmolVlmSpec,
} from './smolvlm-model.js';
import { smolVlmTokenizerFiles } from './smolvlm-tokenizer.js';

/** Writes the model files into `dir` (no caching). */
export async function writeSmolVlmModel(dir: string, spec: SmolVlmSpec): Promise<void> {
  checkSmolVlmSpec(spec);
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  const tokenizer = smolVlmTokenizerFiles({ vocabSize: spec.text.vocabSize });
  const onnxDir = path.join(dir, 'onnx');
  await mkdir(onnxDir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), json(smolVlmConfigJson(spec)));
  await writeFile(path.join(dir, 'generation_config.json'), json(smolVlmGenerationConfigJson()));
  await writeFile(path.join(dir, 'preprocessor_config.json'), json(smolVlmPreprocessorJson(spec)));
  await writeFile(path.join(dir, 'processor_config.json'), json(smolVlmProcessorConfigJson(spec)));
  await writeFile(path.join(dir, 'tokenizer.json'), json(tokenizer.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), json(tokenizer.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), json(tokenizer.specialTokensMap));
  // One graph at a time: the 256M preset's graphs are ~0.4–0.6 GB each in memory.
  const save = async (build: () => OnnxGraphBuilder, name: string): Promise<void> => {
    const graph = build();
    await graph.save(path.join(onnxDir, `${name}.onnx`));
    await quantizeDynamic(graph).save(path.join(onnxDir, `${name}${DTYPE_SUFFIX.q8}.onnx`));
  };
  await save(() => buildSmolVlmVisionGraph(spec), 'vision_encoder');
  await save(() => buildSmolVlmEmbedTokensGraph(spec), 'embed_tokens');
  await save(() => buildSmolVlmDecoderGraph(spec), 'decoder_model_merged');
}

export async function ensureSmolVlmModel(spec: SmolVlmSpec, options: { cacheDir: string }): Promise<string> {
  return ensureGeneratedModel({ cacheDir: options.cacheDir, kind: 'smolvlm', params: { spec }, write: (dir) => writeSmolVlmModel(dir, spec) });
}
