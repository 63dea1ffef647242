/**
 * The physical limit: onnxruntime-node sessions in worker threads, fed back to back with no
 * server, batcher or HTTP in between, for a given layout (workers × intra-op threads) and
 * batch size.
 */
import { saturate } from '../src/models/session/layout-tuning.js';
import { WorkerPool } from '../src/models/session/worker-pool.js';
import { summarize, type LatencySummary } from './stats.js';
import { snapshotThreads, totalCpuMs } from './thread-cpu.js';

export interface Layout {
  instances: number;
  threads: number;
}

export interface BareResult extends Layout {
  batchSize: number;
  images: number;
  seconds: number;
  imagesPerSecond: number;
  /** Latency of one session run (one batch). */
  run: LatencySummary;
  /** CPU of this whole process (session threads and the feeding loop) per image. */
  cpuMsPerImage: number;
}

/** The bare row of `layout` whose batch size is closest to `batchSize` (e.g. the server's mean batch). */
export function bareRowNear(bare: readonly BareResult[], layout: Layout, batchSize: number): BareResult {
  return bare
    .filter((b) => b.instances === layout.instances && b.threads === layout.threads)
    .reduce((a, b) => (Math.abs(b.batchSize - batchSize) < Math.abs(a.batchSize - batchSize) ? b : a));
}

export async function measureBare(
  modelPath: string,
  layout: Layout,
  batchSize: number,
  pixels: Float32Array[],
  itemDims: number[],
  budget: { minImages: number; minSeconds: number },
  /** The output to fetch: `logits` for a classifier, e.g. `image_embeds` for a CLIP vision tower. */
  outputName = 'logits',
): Promise<BareResult> {
  const pool = await WorkerPool.create({
    sessions: { model: modelPath },
    instances: layout.instances,
    intraOpThreads: layout.threads,
    providers: ['cpu'],
    requireProvider: false,
    allowSpinning: layout.instances === 1,
  });
  const itemSize = pixels[0]!.length;
  const dims = [batchSize, ...itemDims];
  let next = 0;
  const batch = () => {
    const data = new Float32Array(batchSize * itemSize);
    for (let i = 0; i < batchSize; i++) data.set(pixels[next++ % pixels.length]!, i * itemSize);
    return { pixel_values: { type: 'float32' as const, dims, data } };
  };
  try {
    // Warm-up: one run per instance.
    await Promise.all(Array.from({ length: layout.instances }, () => pool.run('model', batch(), [outputName])));
    const cpuBefore = await snapshotThreads(process.pid);
    const timed = await saturate(pool, 'model', batch, [outputName], layout.instances, { ...budget, minRuns: Math.ceil(budget.minImages / batchSize), itemsPerRun: batchSize });
    const { items: images, seconds } = timed;
    const cpuMsPerImage = totalCpuMs(cpuBefore, await snapshotThreads(process.pid), process.pid) / images;
    return { ...layout, batchSize, images, seconds, imagesPerSecond: images / seconds, run: summarize(timed.runLatenciesMs), cpuMsPerImage };
  } finally {
    await pool.close();
  }
}
