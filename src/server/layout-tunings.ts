/**
 * Layout tunings kept per machine: each model whose layout the operator did not fully set is
 * timed once (src/models/session/layout-tuning.ts) and the winner is kept under
 * `<cache dir>/tuning/`, keyed by the graph file (path, size, modification time), the CPU, the
 * cores and what was fixed. A kept tuning applies at every later start; `--tune` (or
 * `npm run models -- tune`) measures the ones missing. Tuning runs before the models load, so
 * nothing else competes for the cores while it times them.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, realpath, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { onnxFile } from '../models/hf-folder.js';
import { tuneLayout, type TuningRequest, type TuningResult } from '../models/session/layout-tuning.js';
import { imageSessionIn, type ModelSpec } from '../pipelines/registry.js';
import { spinningAllowed } from './thread-budget.js';

/** Bumped when the way candidates are timed changes, so older tunings are measured again. */
const TUNING_VERSION = 1;

export interface KeptTuning {
  key: Record<string, unknown>;
  measuredAt: string;
  result: TuningResult;
}

export interface TuningOptions {
  cacheDir: string;
  /** Measure models that have no kept tuning (`--tune`); otherwise only kept ones apply. */
  measure: boolean;
  logger?: Logger;
  signal?: AbortSignal;
  /** How long each candidate is timed (MMS_TUNE_SECONDS). */
  secondsPerCandidate?: number;
}

/** What a spec's tuning times: its image session's graph, on its share of the cores. */
function tuningRequestOf(spec: ModelSpec, tunable: NonNullable<ModelSpec['tunable']>): TuningRequest {
  return { file: onnxFile(spec.dir, imageSessionIn(spec.task, spec.dir), spec.variant), cores: tunable.cores, fixed: tunable.fixed, providers: spec.providers };
}

async function keyOf(request: TuningRequest): Promise<Record<string, unknown>> {
  const file = await realpath(request.file);
  const { size, mtimeMs } = await stat(file);
  const cpus = os.cpus();
  return {
    version: TUNING_VERSION,
    file,
    size,
    mtimeMs,
    cpu: cpus[0]?.model ?? 'unknown',
    logicalCpus: cpus.length,
    arch: process.arch,
    cores: request.cores,
    fixed: request.fixed ?? {},
    providers: request.providers,
  };
}

function keptPath(cacheDir: string, key: Record<string, unknown>): string {
  return path.join(cacheDir, 'tuning', `${createHash('sha256').update(JSON.stringify(key)).digest('hex').slice(0, 32)}.json`);
}

/** The kept tuning for this request on this machine, if any. */
export async function keptTuning(cacheDir: string, request: TuningRequest): Promise<KeptTuning | undefined> {
  const file = keptPath(cacheDir, await keyOf(request));
  return readFile(file, 'utf8').then((text) => JSON.parse(text) as KeptTuning, () => undefined);
}

/** Times the candidates and keeps the result; returns it and where it was kept. */
export async function measureAndKeep(cacheDir: string, request: TuningRequest, secondsPerCandidate?: number): Promise<KeptTuning & { file: string }> {
  const key = await keyOf(request);
  const result = await tuneLayout({ ...request, ...(secondsPerCandidate !== undefined && { secondsPerCandidate }) });
  const kept: KeptTuning = { key, measuredAt: new Date().toISOString(), result };
  const file = keptPath(cacheDir, key);
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, `${JSON.stringify(kept, null, 2)}\n`);
  return { ...kept, file };
}

/** Applies kept (or, with `measure`, newly timed) tunings to the specs, before they load. */
export async function applyLayoutTunings(specs: ModelSpec[], options: TuningOptions): Promise<void> {
  const { logger } = options;
  for (const spec of specs) {
    if (!spec.tunable || options.signal?.aborted) continue;
    try {
      const request = { ...tuningRequestOf(spec, spec.tunable), signal: options.signal };
      let kept = await keptTuning(options.cacheDir, request);
      if (!kept && options.measure) {
        logger?.info({ model: spec.id, cores: request.cores }, 'timing layouts (--tune)');
        kept = await measureAndKeep(options.cacheDir, request, options.secondsPerCandidate);
      }
      if (!kept) continue;
      const { instances, intraOpThreads, maxBatchSize, itemsPerSecond } = kept.result.best;
      Object.assign(spec, { instances, intraOpThreads, maxBatchSize, layoutSource: 'tuned' });
      logger?.info({ model: spec.id, instances, intra_op_threads: intraOpThreads, max_batch_size: maxBatchSize, items_per_second: itemsPerSecond }, 'tuned layout');
    } catch (error) {
      if (options.signal?.aborted) return;
      // The load that follows reports a broken model with its own error; the planned layout stays.
      logger?.warn({ model: spec.id, err: error }, 'layout tuning failed; keeping the planned layout');
    }
  }
  const allowSpinning = spinningAllowed(specs);
  for (const spec of specs) spec.allowSpinning = allowSpinning;
}
