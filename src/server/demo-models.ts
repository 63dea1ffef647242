/**
 * `--demo`: random-weight models made by the generator, so the whole server runs offline on a
 * fresh machine. DeiT-Tiny dimensions: big enough that batching and latency are visible.
 */
import path from 'node:path';
import { ensureVitModel, VIT_DEMO } from '../models/generator/index.js';
import { MODEL_DEFAULTS, type ModelSettings, type ServerConfig } from './config.js';

export async function demoModels(config: ServerConfig): Promise<ModelSettings[]> {
  const dir = await ensureVitModel(VIT_DEMO, { cacheDir: path.join(config.cacheDir, 'generated') });
  return [
    {
      id: 'vit-demo',
      source: { kind: 'dir', dir },
      task: 'image-classification',
      variant: 'fp32',
      instances: undefined,
      intraOpThreads: undefined,
      providers: ['cpu'],
      requireProvider: false,
      ...MODEL_DEFAULTS,
    },
  ];
}
