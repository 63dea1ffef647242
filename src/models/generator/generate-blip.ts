/**
 * Writes a random-weight BLIP captioner in this server's BLIP contract (docs/architecture.md,
 * "Model contracts it implements"):
 *
 *   <dir>/config.json, preprocessor_config.json
 *   <dir>/tokenizer.json, tokenizer_config.json, special_tokens_map.json   (BERT WordPiece + [DEC], [ENC])
 *   <dir>/onnx/vision_model.onnx             pixel_values [B, 3, 384, 384] → last_hidden_state [B, 577, hidden]
 *   <dir>/onnx/decoder_model.onnx            the first step (blip-text-decoder-model.ts)
 *   <dir>/onnx/decoder_with_past_model.onnx  every later step
 *
 *   const dir = await ensureBlipModel(BLIP_TINY, { cacheDir: '/tmp/mis-models' });
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { bertTokenizerFiles } from './bert-tokenizer.js';
import { blipConfigJson, blipPreprocessorJson, type BlipSpec } from './blip-model.js';
import { buildBlipTextDecoderGraph } from './blip-text-decoder-model.js';
import { ensureGeneratedModel } from './model-cache.js';
import { buildVitGraph } from './vit-model.js';

/** Writes the model files into `dir` (no caching). */
export async function writeBlipModel(dir: string, spec: BlipSpec): Promise<void> {
  const json = (value: unknown): string => `${JSON.stringify(value, null, 2)}\n`;
  const tokenizer = bertTokenizerFiles({ vocabSize: spec.text.vocabSize });
  const onnxDir = path.join(dir, 'onnx');
  await mkdir(onnxDir, { recursive: true });
  await writeFile(path.join(dir, 'config.json'), json(blipConfigJson(spec)));
  await writeFile(path.join(dir, 'preprocessor_config.json'), json(blipPreprocessorJson(spec)));
  await writeFile(path.join(dir, 'tokenizer.json'), json(tokenizer.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), json(tokenizer.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), json(tokenizer.specialTokensMap));
  await buildVitGraph(spec.vision, 'encoder').save(path.join(onnxDir, 'vision_model.onnx'));
  for (const [form, name] of [['first', 'decoder_model'], ['with_past', 'decoder_with_past_model']] as const) {
    await buildBlipTextDecoderGraph(spec.text, spec.vision.hiddenSize, form).save(path.join(onnxDir, `${name}.onnx`));
  }
}

export async function ensureBlipModel(spec: BlipSpec, options: { cacheDir: string }): Promise<string> {
  return ensureGeneratedModel({ cacheDir: options.cacheDir, kind: 'blip', params: { spec }, write: (dir) => writeBlipModel(dir, spec) });
}
