/**
 * After the models load, each served variant other than fp32 is compared with its fp32 files
 * (src/models/variant-agreement.ts), one model at a time, in the background: `/v1/models` shows
 * `measuring`, then the figures, or `unknown` with the reason (no fp32 files beside it). Results
 * are kept under `<cache dir>/agreement/`, keyed by the sha256 of the files compared, so a
 * restart does not measure again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { DEFAULT_DTYPE } from '../models/dtypes.js';
import { onnxFile } from '../models/hf-folder.js';
import { AGREEMENT_INPUTS, measureAgreement, type SessionAgreement } from '../models/variant-agreement.js';
import type { ModelRegistry } from './model-registry.js';

export type AgreementStatus =
  | { status: 'measuring' }
  | { status: 'unknown'; reason: string }
  | { status: 'measured'; against: 'fp32'; inputs: number; sessions: SessionAgreement[] };

async function sha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Measures every ready variant model that has no figures yet; resolves when done or stopped. */
export async function measureVariantAgreements(registry: ModelRegistry, cacheDir: string, signal: AbortSignal, logger?: Logger): Promise<void> {
  const folder = path.join(cacheDir, 'agreement');
  for (const id of registry.ids) {
    const model = registry.get(id)!;
    const { spec, loaded } = model;
    if (signal.aborted) return;
    if (!spec || !loaded || model.state !== 'ready' || spec.variant === DEFAULT_DTYPE || model.agreement) continue;
    model.agreement = { status: 'measuring' };
    try {
      const sessions = Object.keys(loaded.pool.sessions);
      const files = sessions.flatMap((name) => [onnxFile(spec.dir, name, DEFAULT_DTYPE), onnxFile(spec.dir, name, spec.variant)]);
      const key = createHash('sha256').update((await Promise.all(files.map(sha256))).join('\n')).digest('hex');
      const cached = path.join(folder, `${key}.json`);
      const known = await readFile(cached, 'utf8').then((text) => JSON.parse(text) as SessionAgreement[], () => undefined);
      const figures = known ?? (await measureAgreement({ dir: spec.dir, variant: spec.variant, sessions, topK: model.task === 'image-classification', signal }));
      if (!known) {
        await mkdir(folder, { recursive: true });
        await writeFile(cached, `${JSON.stringify(figures, null, 2)}\n`);
      }
      model.agreement = { status: 'measured', against: 'fp32', inputs: AGREEMENT_INPUTS, sessions: figures };
      logger?.info({ model: id, agreement: figures }, 'variant compared with fp32');
    } catch (error) {
      if (signal.aborted) return void (model.agreement = undefined);
      model.agreement = { status: 'unknown', reason: error instanceof Error ? error.message : String(error) };
    }
  }
}
