/**
 * Generated test models, cached outside git (MMS_TEST_CACHE, default under the OS temp dir)
 * so every test file reuses them.
 */
import os from 'node:os';
import path from 'node:path';
import { ensureVitModel, VIT_SLOW, VIT_TINY, type VitSpec } from '../../src/models/generator/index.js';
import { CLIP_TINY } from '../../src/models/generator/clip-model.js';
import { ensureClipModel } from '../../src/models/generator/generate-clip.js';
import { ensureVitGpt2Model } from '../../src/models/generator/generate-vit-gpt2.js';
import { VIT_GPT2_TINY } from '../../src/models/generator/vit-gpt2-model.js';
import { BLIP_TINY } from '../../src/models/generator/blip-model.js';
import { ensureBlipModel } from '../../src/models/generator/generate-blip.js';
import { ensureSmolVlmModel } from '../../src/models/generator/generate-smolvlm.js';
import { SMOLVLM_TINY } from '../../src/models/generator/smolvlm-model.js';

export function testCacheDir(): string {
  return process.env.MMS_TEST_CACHE ?? path.join(os.tmpdir(), 'mms-test-models');
}

export function vitModelDir(spec: VitSpec = VIT_TINY, preprocessor: 'current' | 'legacy' = 'current'): Promise<string> {
  return ensureVitModel(spec, { cacheDir: testCacheDir(), preprocessor });
}

export const tinyVitDir = () => vitModelDir(VIT_TINY);
export const slowVitDir = () => vitModelDir(VIT_SLOW);

export const tinyClipDir = () => ensureClipModel(CLIP_TINY, { cacheDir: testCacheDir() });

export const tinyVitGpt2Dir = () => ensureVitGpt2Model(VIT_GPT2_TINY, { cacheDir: testCacheDir() });

export const tinyBlipDir = () => ensureBlipModel(BLIP_TINY, { cacheDir: testCacheDir() });

export const tinySmolVlmDir = () => ensureSmolVlmModel(SMOLVLM_TINY, { cacheDir: testCacheDir() });

/** Server flags serving a tiny model of every task: vit, clip, captioner (vit-gpt2) and chat. */
export async function everyTaskModelFlags(): Promise<string[]> {
  const dirs = { vit: await tinyVitDir(), clip: await tinyClipDir(), captioner: await tinyVitGpt2Dir(), chat: await tinySmolVlmDir() };
  return Object.entries(dirs).flatMap(([id, dir]) => ['--model-dir', `${id}=${dir}`]);
}
