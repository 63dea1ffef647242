/**
 * The generated captioners' sessions in a real worker pool, and the encoder's output for some
 * shared photos, one [1, tokens, hidden] row each: what the decoder-cache and scheduler tests
 * decode from. ViT-GPT2: `encoder`, `decoder`; BLIP: `vision`, `prefill`, `step`.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadImageProcessorConfig, preprocessImage } from '../../src/models/image/index.js';
import type { PlainTensor } from '../../src/models/session/tensor.js';
import { WorkerPool } from '../../src/models/session/worker-pool.js';
import { sharedImage, type SharedImageName } from './shared-dir.js';
import { tinyBlipDir, tinyVitGpt2Dir } from './test-models.js';

/** past_key_values.{i}.key|value → present.{i}.key|value of the tiny captioner's two layers. */
export const CAPTIONER_PAST_TO_PRESENT = Object.fromEntries([0, 1].flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, `present.${i}.${kv}`])));

/** With `splitProjections`, the decoder's encoder projections load as `decoder/encoder_projections`. */
export async function captionerPool(photos: readonly SharedImageName[], { splitProjections = false } = {}): Promise<{ pool: WorkerPool; imageTokens: PlainTensor[] }> {
  const dir = await tinyVitGpt2Dir();
  const pool = await WorkerPool.create({
    sessions: { encoder: path.join(dir, 'onnx', 'encoder_model.onnx'), decoder: path.join(dir, 'onnx', 'decoder_model_merged.onnx') },
    ...(splitProjections && { hoistEncoderProjections: { decoder: 'encoder_hidden_states' } }),
    instances: 2,
    intraOpThreads: 1,
    providers: ['cpu'],
    requireProvider: false,
    allowSpinning: false,
  });
  return { pool, imageTokens: await encodePhotos(pool, dir, 'encoder', photos) };
}

/** The generated BLIP's vision model and both decoders in a real pool of `instances` workers. */
export async function blipPool(photos: readonly SharedImageName[], instances = 1): Promise<{ pool: WorkerPool; imageTokens: PlainTensor[] }> {
  const dir = await tinyBlipDir();
  const onnx = (name: string) => path.join(dir, 'onnx', `${name}.onnx`);
  const pool = await WorkerPool.create({
    sessions: { vision: onnx('vision_model'), prefill: onnx('decoder_model'), step: onnx('decoder_with_past_model') },
    instances,
    intraOpThreads: 1,
    providers: ['cpu'],
    requireProvider: false,
    allowSpinning: false,
  });
  return { pool, imageTokens: await encodePhotos(pool, dir, 'vision', photos) };
}

async function encodePhotos(pool: WorkerPool, dir: string, session: string, photos: readonly SharedImageName[]): Promise<PlainTensor[]> {
  const settings = await loadImageProcessorConfig(path.join(dir, 'preprocessor_config.json'), { defaultToSquare: true });
  return Promise.all(
    photos.map(async (name) => {
      const { pixelValues, width, height } = await preprocessImage(await readFile(sharedImage(name)), settings, { maxPixels: 5e7 });
      return (await pool.run(session, { pixel_values: { type: 'float32', dims: [1, 3, height, width], data: pixelValues } }, ['last_hidden_state'])).last_hidden_state!;
    }),
  );
}
