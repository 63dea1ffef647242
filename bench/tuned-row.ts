/**
 * The 16-client row on a server started with `--tune` (it times workers × threads and batch
 * sizes on the model first, and among layouts within 3% takes the one with fewer threads per
 * worker). Beside the default layout's row: a 2-thread session loses more to the cores that
 * preprocessing and HTTP take from it than two 1-thread sessions do (docs/architecture.md,
 * "Per-image overhead").
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { runLoad, type LoadResult, type Photo } from './load-generator.js';
import { startServer } from './processes.js';

export interface TunedRow {
  layout: { instances: number; threads: number; maxBatchSize: number; source: string };
  row: LoadResult;
}

export async function measureTunedRow(
  modelDir: string,
  photos: Photo[],
  settings: { requests: number; warmUpRequests: number; tuneSeconds: number },
  log: (message: string) => void,
): Promise<TunedRow> {
  // A cache dir of its own: the tuning is timed now, not taken from an earlier run.
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'mms-bench-tuned-'));
  try {
    const { base, server } = await startServer('vit', modelDir, ['--tune', '--cache-dir', cacheDir], { env: { MMS_TUNE_SECONDS: String(settings.tuneSeconds) } });
    try {
      type Listed = { instances: number; intra_op_threads: number; layout_source: string; batching: { max_batch_size: number } };
      const [listed] = ((await (await fetch(`${base}/v1/models`)).json()) as { data: Listed[] }).data;
      const layout = { instances: listed!.instances, threads: listed!.intra_op_threads, maxBatchSize: listed!.batching.max_batch_size, source: listed!.layout_source };
      await runLoad(`${base}/v1/classify`, 16, settings.warmUpRequests, photos);
      const row = await runLoad(`${base}/v1/classify`, 16, settings.requests, photos);
      log(`ours tuned (${layout.instances}×${layout.threads}, batch ≤ ${layout.maxBatchSize}), 16 clients: ${row.throughput.toFixed(2)} img/s`);
      return { layout, row };
    } finally {
      await server.stop();
    }
  } finally {
    await rm(cacheDir, { recursive: true, force: true });
  }
}
