/**
 * `--demo`: random-weight models made by the generator, so the whole server runs offline on a
 * fresh machine. DeiT-Tiny dimensions: big enough that batching and latency are visible.
 * Flags and environment apply to them as to any other model.
 */
import path from 'node:path';
import { ensureVitModel, VIT_DEMO } from '../models/generator/index.js';
import { modelSettings, type ModelSettings, type ServerConfig } from './config.js';

export async function demoModels(config: ServerConfig): Promise<ModelSettings[]> {
  const dir = await ensureVitModel(VIT_DEMO, { cacheDir: path.join(config.cacheDir, 'generated') });
  return [modelSettings({ id: 'vit-demo', dir }, config.modelOverrides, config.fileDefaults)];
}
