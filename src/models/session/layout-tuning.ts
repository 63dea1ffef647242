/**
 * Which layout (workers × intra-op threads) and batch size serve a model fastest on this
 * machine, found by timing them on the model itself. The winner differs by CPU: one 2-core
 * AVX-512 machine ran ViT-B/16 faster as 2 workers × 1 thread, a Xeon as 1 × 2
 * (docs/architecture.md, "Layout tuning"), so it is measured, not guessed, the way Triton's Model
 * Analyzer searches configurations.
 *
 * Each candidate keeps every worker busy back to back with seeded synthetic batches (no server
 * in between), the physical limit of that layout; the fastest wins, and candidates within
 * TIE_MARGIN of it count as equal. Among those, more workers with fewer threads each, then the
 * smaller batch: a bare timing cannot see that inside the server, where preprocessing and HTTP
 * take cores too, a session whose intra-op threads wait for each other costs more CPU (ViT-B/16
 * at 1 × 2: 429 CPU-ms per image in the server against 371 bare; q8 at 2 × 1: 122.5 against
 * 123.5; docs/architecture.md, "Layout tuning"). Tuning is for throughput; the untuned default
 * (one worker with every thread) answers a lone request sooner.
 *
 *   const { best, rows } = await tuneLayout({ file: 'm/onnx/model.onnx', cores: 2, providers: ['cpu'] });
 */
import type { ExecutionProvider } from './execution-providers.js';
import { syntheticFeeds } from './synthetic-inputs.js';
import type { NamedTensors } from './tensor.js';
import { WorkerPool } from './worker-pool.js';

export interface Layout {
  instances: number;
  intraOpThreads: number;
}

export interface TunedLayout extends Layout {
  maxBatchSize: number;
}

export interface TuningRow extends TunedLayout {
  itemsPerSecond: number;
  /** Median time of one session run (one batch). */
  runP50Ms: number;
}

export interface TuningResult {
  best: TuningRow;
  /** Every candidate timed, in the order measured. */
  rows: TuningRow[];
}

export interface TuningRequest {
  /** The ONNX graph the server feeds images to (a ViT's `model`, CLIP's `vision_model`). */
  file: string;
  /** Cores the model may use: instances × threads of each candidate equals this. */
  cores: number;
  providers: ExecutionProvider[];
  /** Settings the operator fixed: only candidates with these values are timed. */
  fixed?: Partial<TunedLayout>;
  batchSizes?: readonly number[];
  /** Each candidate runs at least this long (and at least MIN_RUNS runs per worker). */
  secondsPerCandidate?: number;
  signal?: AbortSignal;
}

/** Throughputs this close to the best count as equal (run-to-run noise here is a few percent). */
export const TIE_MARGIN = 0.03;
const DEFAULT_BATCH_SIZES = [1, 2, 4, 8] as const;
const MIN_RUNS = 2;

/** Every split of `cores` into workers × threads that respects the fixed settings. */
export function candidateLayouts(cores: number, fixed: Partial<Layout> = {}): Layout[] {
  if (fixed.instances !== undefined) {
    return [{ instances: fixed.instances, intraOpThreads: fixed.intraOpThreads ?? Math.max(1, Math.floor(cores / fixed.instances)) }];
  }
  if (fixed.intraOpThreads !== undefined) {
    const threads = fixed.intraOpThreads;
    return Array.from({ length: Math.max(1, Math.floor(cores / threads)) }, (_, i) => ({ instances: i + 1, intraOpThreads: threads }));
  }
  const divisors = Array.from({ length: cores }, (_, i) => i + 1).filter((n) => cores % n === 0);
  return divisors.map((instances) => ({ instances, intraOpThreads: cores / instances }));
}

export interface SaturationRun {
  runs: number;
  items: number;
  seconds: number;
  runLatenciesMs: number[];
}

/**
 * Keeps `concurrency` runs of `session` in flight, each on a fresh batch from `batch()` (a run
 * hands its buffers to the worker), until both the time and the run budget are spent.
 */
export async function saturate(
  pool: WorkerPool,
  session: string,
  batch: () => NamedTensors,
  outputNames: string[],
  concurrency: number,
  budget: { minSeconds: number; minRuns: number; itemsPerRun: number; signal?: AbortSignal | undefined },
): Promise<SaturationRun> {
  const runLatenciesMs: number[] = [];
  const started = performance.now();
  const enough = () => runLatenciesMs.length >= budget.minRuns && performance.now() - started >= budget.minSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!enough()) {
        budget.signal?.throwIfAborted();
        const t0 = performance.now();
        await pool.run(session, batch(), outputNames);
        runLatenciesMs.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return { runs: runLatenciesMs.length, items: runLatenciesMs.length * budget.itemsPerRun, seconds, runLatenciesMs };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? 0;
}

/** The fastest row, preferring fewer threads per worker, then smaller batches, among rows within TIE_MARGIN of it. */
export function pickBest(rows: readonly TuningRow[]): TuningRow {
  if (rows.length === 0) throw new Error('no layout candidates to choose from');
  const fastest = Math.max(...rows.map((r) => r.itemsPerSecond));
  const ties = rows.filter((r) => r.itemsPerSecond >= fastest * (1 - TIE_MARGIN));
  const better = (a: TuningRow, b: TuningRow) => b.intraOpThreads < a.intraOpThreads || (b.intraOpThreads === a.intraOpThreads && b.maxBatchSize < a.maxBatchSize);
  return ties.reduce((a, b) => (better(a, b) ? b : a));
}

/** Times every candidate layout and batch size; the pool of each layout is created once. */
export async function tuneLayout(request: TuningRequest): Promise<TuningResult> {
  const { fixed = {}, signal } = request;
  const batchSizes = fixed.maxBatchSize !== undefined ? [fixed.maxBatchSize] : (request.batchSizes ?? DEFAULT_BATCH_SIZES);
  const rows: TuningRow[] = [];
  for (const layout of candidateLayouts(request.cores, fixed)) {
    signal?.throwIfAborted();
    const pool = await WorkerPool.create({
      sessions: { model: request.file },
      ...layout,
      providers: request.providers,
      requireProvider: false,
      allowSpinning: layout.instances === 1,
    });
    try {
      const info = pool.session('model');
      const outputs = [info.outputs[0]!.name];
      for (const batchSize of batchSizes) {
        const batch = () => syntheticFeeds(info, batchSize);
        // Warm-up: the first run of a shape on each worker allocates.
        await saturate(pool, 'model', batch, outputs, layout.instances, { minSeconds: 0, minRuns: layout.instances, itemsPerRun: batchSize, signal });
        const timed = await saturate(pool, 'model', batch, outputs, layout.instances, {
          minSeconds: request.secondsPerCandidate ?? 2,
          minRuns: MIN_RUNS * layout.instances,
          itemsPerRun: batchSize,
          signal,
        });
        rows.push({ ...layout, maxBatchSize: batchSize, itemsPerSecond: timed.items / timed.seconds, runP50Ms: median(timed.runLatenciesMs) });
      }
    } finally {
      await pool.close();
    }
  }
  return { best: pickBest(rows), rows };
}
