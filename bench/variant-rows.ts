/**
 * The q8 rows of `npm run bench`: the bare limit of `model_quantized.onnx` per layout, and the
 * server serving it as `vit:q8` at 16 clients (started with --tune: it times its layouts first
 * and serves with the fastest), beside the fp32 rows of the same run: ours/limit
 * for each dtype, the milliseconds the server adds per image for each (target: within ±20% of
 * each other), and the server's q8/fp32 speed-up next to the bare one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { bareRowNear, measureBare, type BareResult, type Layout } from './bare-limit.js';
import { runLoad, type LoadResult, type Photo } from './load-generator.js';
import { freePort, startChild, type ChildOptions, type ChildServer } from './processes.js';
import { measureRowCpu, profileLoad, stageTable, type RowCpu, type StageTable } from './stage-accounting.js';
import { round } from './stats.js';

export interface VariantBench {
  bare: BareResult[];
  ours: LoadResult;
  /** The layout the q8 server ran, and where it came from (`tuned`). */
  oursLayout: Layout & { maxBatchSize: number; source: string };
  /** The q8 server's CPU per image by stage (drift-free, unlike the added milliseconds). */
  stages: StageTable;
}

export interface VariantSettings {
  layouts: Layout[];
  batchSizes: number[];
  bareImages: number;
  bareSeconds: number;
  requests: number;
  profiledRequests: number;
  /** Seconds the server's --tune times each candidate. */
  tuneSeconds: number;
}

/** A server serving the folder's q8 graph as `vit:q8` (the tag comes from a config file's `variant`). */
async function startQ8Server(config: string, options: ChildOptions = {}, extraArgs: string[] = []): Promise<{ base: string; server: ChildServer }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['--config', config, '--port', String(port), '--grpc-port', String(await freePort()), '--host', '127.0.0.1', ...extraArgs];
  const server = await startChild('src/server/main.ts', args, `${base}/readyz`, options);
  await agreementSettled(base);
  return { base, server };
}

export async function measureQ8(
  modelDir: string,
  pixels: Float32Array[],
  itemDims: number[],
  photos: Photo[],
  settings: VariantSettings,
  log: (message: string) => void,
): Promise<VariantBench> {
  const bare: BareResult[] = [];
  for (const layout of settings.layouts) {
    for (const batchSize of settings.batchSizes) {
      const row = await measureBare(path.join(modelDir, 'onnx', 'model_quantized.onnx'), layout, batchSize, pixels, itemDims, {
        minImages: settings.bareImages,
        minSeconds: settings.bareSeconds,
      });
      log(`bare q8 ${layout.instances}×${layout.threads} batch ${batchSize}: ${row.imagesPerSecond.toFixed(2)} img/s`);
      bare.push(row);
    }
  }
  const work = await mkdtemp(path.join(os.tmpdir(), 'mms-bench-q8-'));
  const config = path.join(work, 'server.json');
  // Its own cache dir: the tuning timed at the first start applies to the profiled re-run.
  await writeFile(config, JSON.stringify({ cache_dir: path.join(work, 'cache'), models: [{ id: 'vit', dir: modelDir, variant: 'q8' }] }));
  const load = (base: string, requests: number) => runLoad(`${base}/v1/classify`, 16, requests, photos, { model: 'vit:q8' });
  try {
    const { base, server } = await startQ8Server(config, { env: { MMS_TUNE_SECONDS: String(settings.tuneSeconds) } }, ['--tune']);
    let measured: { result: LoadResult & { images: number }; cpu: RowCpu };
    let layout: VariantBench['oursLayout'];
    try {
      type Listed = { instances: number; intra_op_threads: number; layout_source: string; batching: { max_batch_size: number } };
      const [listed] = ((await (await fetch(`${base}/v1/models`)).json()) as { data: Listed[] }).data;
      layout = { instances: listed!.instances, threads: listed!.intra_op_threads, maxBatchSize: listed!.batching.max_batch_size, source: listed!.layout_source };
      log(`ours q8: layout ${layout.instances}×${layout.threads} batch ≤ ${layout.maxBatchSize} (${layout.source})`);
      await load(base, 32);
      measured = await measureRowCpu(server.process.pid!, async () => {
        const row = await load(base, settings.requests);
        return { ...row, images: row.statuses['200'] ?? 0 };
      });
      log(`ours q8, 16 clients: ${measured.result.throughput.toFixed(2)} img/s (${JSON.stringify(measured.result.statuses)})`);
    } finally {
      await server.stop();
    }
    let profiledBase = '';
    const profiled = await profileLoad(
      async (options) => {
        const started = await startQ8Server(config, options);
        profiledBase = started.base;
        return started.server;
      },
      async () => ({ images: (await load(profiledBase, settings.profiledRequests)).statuses['200'] ?? 0 }),
      () => load(profiledBase, 32),
    );
    const bareForStages = bareRowNear(bare, layout, measured.result.meanBatchSize ?? 1);
    return { bare, ours: measured.result, oursLayout: layout, stages: stageTable(measured.cpu, profiled, bareForStages.cpuMsPerImage) };
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** Waits until the server has compared vit:q8 with fp32 (it does so once after loading, on one core). */
async function agreementSettled(base: string): Promise<void> {
  for (;;) {
    const listed = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string; agreement?: { status: string } }[] };
    const status = listed.data.find((m) => m.id === 'vit:q8')?.agreement?.status;
    if (status !== undefined && status !== 'measuring') return;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** The q8-vs-fp32 section of the report, from this run's fp32 limit and 16-client row. */
export function variantMarkdown(q8: VariantBench, fp32: { limit: number; ours16: number; extraCpuMs: number }): string {
  const q8Limit = Math.max(...q8.bare.map((b) => b.imagesPerSecond));
  const best = q8.bare.find((b) => b.imagesPerSecond === q8Limit)!;
  const added = (ours: number, limit: number) => 1000 / ours - 1000 / limit;
  const addedFp32 = added(fp32.ours16, fp32.limit);
  const addedQ8 = added(q8.ours.throughput, q8Limit);
  const within = Math.abs(addedQ8 - addedFp32) <= 0.2 * Math.abs(addedFp32);
  const extraQ8 = q8.stages.extraMsPerImage;
  const cpuWithin = Math.abs(extraQ8 - fp32.extraCpuMs) <= 0.2 * fp32.extraCpuMs;
  return [
    '## q8 (dynamic quantisation) beside fp32 (16 clients)',
    '',
    '| dtype | bare limit img/s | ours img/s | ours ÷ limit | ms the server adds per image |',
    '|---|---|---|---|---|',
    `| fp32 | ${round(fp32.limit)} | ${round(fp32.ours16)} | ${round(fp32.ours16 / fp32.limit)} | ${round(addedFp32, 1)} |`,
    `| q8 | ${round(q8Limit)} (${best.instances} × ${best.threads}, batch ${best.batchSize}) | ${round(q8.ours.throughput)} | ${round(q8.ours.throughput / q8Limit)} | ${round(addedQ8, 1)} |`,
    '',
    `q8 ÷ fp32: bare ${round(q8Limit / fp32.limit)} ×, through the server ${round(q8.ours.throughput / fp32.ours16)} ×. ` +
      `The q8 server ran ${q8.oursLayout.instances} × ${q8.oursLayout.threads}, batches of at most ${q8.oursLayout.maxBatchSize} (${q8.oursLayout.source}: started with \`--tune\`). ` +
      `Bare q8 rows: ${q8.bare.map((b) => `${b.instances} × ${b.threads} batch ${b.batchSize}: ${round(b.imagesPerSecond)}`).join('; ')}. ` +
      'Added ms per image = 1000 ÷ ours − 1000 ÷ limit (the wall time each answer costs beyond the bare session at saturation).',
    '',
    `The server's CPU per image beyond the session run (the stage table's "extra", drift-free): q8 ${round(extraQ8, 1)} ms, fp32 ${round(fp32.extraCpuMs, 1)} ms.`,
    '',
    `- the server's added ms per image for q8 within ±20% of fp32's: ${round(addedQ8, 1)} vs ${round(addedFp32, 1)} — ${within ? 'met' : '**missed**'}`,
    `- the server's extra CPU per image for q8 within ±20% of fp32's: ${round(extraQ8, 1)} vs ${round(fp32.extraCpuMs, 1)} ms — ${cpuWithin ? 'met' : '**missed**'}`,
    '',
  ].join('\n');
}
