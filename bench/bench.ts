/**
 * `npm run bench` — the side-by-side benchmark on a full-size random-weight ViT-B/16 (fp32, CPU):
 *   1. limit: bare onnxruntime-node in worker threads, per layout and batch size;
 *   2. naive: express + a transformers.js pipeline per request (what Node users write today);
 *   3. ours: the server over HTTP at 1, 4 and 16 clients, at 16 with a tuned layout (tuned-row.ts),
 *      plus an overload row (429s);
 *   4. where the CPU goes: per-thread CPU of the 16-client row and a profiled re-run split into
 *      stages (stage-accounting.ts), beside the bare session's CPU per image;
 *   5. attention maps against plain classification on the same server (attention-rows.ts);
 *   6. the q8 variant: its bare limit and the server serving it (variant-rows.ts).
 * Writes JSON + a markdown table to bench/results/ (`--quick`: tiny model, bench/results/quick/).
 * `--stages`: only the bare rows, the 16-client row and the stage table, to iterate on the
 * server's overhead (bench/results/quick/stages.md).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureVitModel, VIT_BASE, VIT_TINY } from '../src/models/generator/index.js';
import { loadImageProcessorConfig, preprocessImage } from '../src/models/image/index.js';
import { defaultCacheDir } from '../src/server/config.js';
import { measureAttention, type AttentionBench } from './attention-rows.js';
import { bareRowNear, measureBare, type BareResult, type Layout } from './bare-limit.js';
import { measureTunedRow, type TunedRow } from './tuned-row.js';
import { measureQ8, type VariantBench } from './variant-rows.js';
import { metricValue, pollLatency, runLoad, sharedPhotos, type LoadResult } from './load-generator.js';
import { freePort, startChild, startServer } from './processes.js';
import { cpuDescription, markdownReport } from './report.js';
import { round } from './stats.js';
import { measureRowCpu, profileLoad, stageMarkdown, stageTable, type RowCpu } from './stage-accounting.js';

const quick = process.argv.includes('--quick');
const stagesOnly = process.argv.includes('--stages');
const cores = os.availableParallelism();
const settings = quick
  ? { spec: VIT_TINY, requests: 24, bareImages: 32, bareSeconds: 1, batchSizes: [1, 4], overloadRequests: 32, profiledRequests: 24, attentionRequests: 24 }
  : stagesOnly
    ? { spec: VIT_BASE, requests: 200, bareImages: 64, bareSeconds: 8, batchSizes: [1, 4], overloadRequests: 0, profiledRequests: 120, attentionRequests: 0 }
    : { spec: VIT_BASE, requests: 200, bareImages: 96, bareSeconds: 10, batchSizes: [1, 2, 4, 8], overloadRequests: 96, profiledRequests: 120, attentionRequests: 100 };
const outDir = path.join(import.meta.dirname, 'results', quick || stagesOnly ? 'quick' : '');
const log = (message: string) => console.error(`[bench] ${message}`);
const POLL_MS = 200;
const WARM_UP_REQUESTS = quick ? 8 : 32;


function layouts(): Layout[] {
  const candidates = [{ instances: 1, threads: cores }, { instances: cores, threads: 1 }];
  if (cores >= 4) candidates.push({ instances: 2, threads: Math.floor(cores / 2) });
  return candidates.filter((l, i) => candidates.findIndex((o) => o.instances === l.instances && o.threads === l.threads) === i);
}


async function main(): Promise<void> {
  const modelDir = await ensureVitModel(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  const photos = await sharedPhotos();
  const image = await loadImageProcessorConfig(path.join(modelDir, 'preprocessor_config.json'), { defaultToSquare: true });
  const pixels = await Promise.all(photos.map(async (p) => (await preprocessImage(p.bytes, image, { maxPixels: 5e7 })).pixelValues));
  const itemDims = [3, image.outputSize!.height, image.outputSize!.width];
  log(`model ${modelDir} (${quick ? 'tiny' : 'ViT-B/16'}), ${cores} cores`);

  // 1. The limit, per layout and batch size.
  const bare: BareResult[] = [];
  for (const layout of layouts()) {
    for (const batchSize of settings.batchSizes) {
      const result = await measureBare(path.join(modelDir, 'onnx', 'model.onnx'), layout, batchSize, pixels, itemDims, {
        minImages: settings.bareImages,
        minSeconds: settings.bareSeconds,
      });
      log(`bare ${layout.instances}×${layout.threads} batch ${batchSize}: ${result.imagesPerSecond.toFixed(2)} img/s`);
      bare.push(result);
    }
  }
  const best = bare.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));

  // 3. Ours, with its default layout and settings (queue bound 256 ≥ every concurrency here).
  const { base: oursBase, server: ours } = await startServer('vit', modelDir);
  let profiledBase = '';
  const oursRows: (LoadResult & { polled: boolean; health?: unknown; metrics?: unknown; meanBatchFromMetrics: number })[] = [];
  let oursLayout: Layout;
  let rowCpu: RowCpu | undefined;
  let attention: AttentionBench | undefined;
  try {
    const listed = (await (await fetch(`${oursBase}/v1/models`)).json()) as { data: { instances: number; intra_op_threads: number }[] };
    oursLayout = { instances: listed.data[0]!.instances, threads: listed.data[0]!.intra_op_threads };
    // Compiled code before the first measured row (the full run's earlier rows warm it too).
    await runLoad(`${oursBase}/v1/classify`, 16, WARM_UP_REQUESTS, photos);
    // The 16-client row twice: alone (throughput, CPU per image) and with /healthz and /metrics
    // polled (responsiveness under load; the polls take CPU a real scrape interval would not).
    const rows = stagesOnly ? [{ clients: 16, polled: false }] : [1, 4, 16].map((clients) => ({ clients, polled: false })).concat({ clients: 16, polled: true });
    for (const { clients, polled } of rows) {
      const batchesBefore = await metricValue(oursBase, 'mms_batch_size_count{model="vit",component="model",variant="fp32"}');
      const itemsBefore = await metricValue(oursBase, 'mms_batch_size_sum{model="vit",component="model",variant="fp32"}');
      // 5 Hz each: far above a real scrape rate, yet light enough not to eat the row's throughput
      // (at 20 Hz the /metrics renders alone cost ~5% of these 2 cores).
      const pollers = polled ? [pollLatency(`${oursBase}/healthz`, POLL_MS), pollLatency(`${oursBase}/metrics`, POLL_MS)] : [];
      const { result: row, cpu } = await measureRowCpu(ours.process.pid!, async () => {
        const loaded = await runLoad(`${oursBase}/v1/classify`, clients, settings.requests, photos);
        return { ...loaded, images: loaded.statuses['200'] ?? 0 };
      });
      if (clients === 16 && !polled) rowCpu = cpu;
      const [health, metrics] = await Promise.all(pollers.map((p) => p.stop()));
      const batches = (await metricValue(oursBase, 'mms_batch_size_count{model="vit",component="model",variant="fp32"}')) - batchesBefore;
      const items = (await metricValue(oursBase, 'mms_batch_size_sum{model="vit",component="model",variant="fp32"}')) - itemsBefore;
      oursRows.push({ ...row, polled, health, metrics, meanBatchFromMetrics: items / batches });
      log(`ours ${clients} clients${polled ? ' (polled)' : ''}: ${row.throughput.toFixed(2)} img/s, p50 ${row.ok.p50.toFixed(0)} ms, p99 ${row.ok.p99.toFixed(0)} ms`);
    }
    // 5. Attention maps on the same server.
    if (!stagesOnly) attention = await measureAttention(oursBase, photos, settings.attentionRequests, log);
  } finally {
    await ours.stop();
  }

  // 4. The same 16-client load on a profiled server: the samples split each thread's CPU into stages.
  const profiled = await profileLoad(
    async (options) => {
      const { base, server } = await startServer('vit', modelDir, [], options);
      profiledBase = base;
      return server;
    },
    async () => ({ images: (await runLoad(`${profiledBase}/v1/classify`, 16, settings.profiledRequests, photos)).statuses['200'] ?? 0 }),
    () => runLoad(`${profiledBase}/v1/classify`, 16, WARM_UP_REQUESTS, photos),
  );

  // This machine's speed drifts over minutes (shared cores): measure the best bare row again
  // right after the load rows, and divide by the higher of the two.
  const bestAgain = await measureBare(path.join(modelDir, 'onnx', 'model.onnx'), best, best.batchSize, pixels, itemDims, {
    minImages: settings.bareImages,
    minSeconds: settings.bareSeconds,
  });
  log(`bare ${best.instances}×${best.threads} batch ${best.batchSize} again: ${bestAgain.imagesPerSecond.toFixed(2)} img/s`);

  // The bare session in the server's layout, at the batch size the server ran at 16 clients.
  const ours16 = oursRows.find((row) => row.clients === 16 && !row.polled)!;
  const bareForStages = bareRowNear(bare, oursLayout, ours16.meanBatchFromMetrics);
  const stages = { bare: bareForStages, cpu: rowCpu!, profiled, table: stageTable(rowCpu!, profiled, bareForStages.cpuMsPerImage) };
  if (stagesOnly) {
    const limit = Math.max(best.imagesPerSecond, bestAgain.imagesPerSecond);
    const markdown = [
      `ours ${round(ours16.throughput)} img/s at 16 clients (mean batch ${round(ours16.meanBatchFromMetrics)}), limit ${round(limit)}: ours/limit ${round(ours16.throughput / limit)}`,
      '',
      stageMarkdown(stages.table, stages.cpu),
      '',
    ].join('\n');
    await mkdir(outDir, { recursive: true });
    await writeFile(path.join(outDir, 'stages.json'), `${JSON.stringify({ date: new Date().toISOString(), bare, bestAgain, ours: oursRows, stages }, null, 2)}\n`);
    await writeFile(path.join(outDir, 'stages.md'), markdown);
    console.log(markdown);
    return;
  }

  // 3b. Ours with a tuned layout, at 16 clients.
  const tuned: TunedRow = await measureTunedRow(modelDir, photos, { requests: settings.requests, warmUpRequests: WARM_UP_REQUESTS, tuneSeconds: quick ? 0.2 : 3 }, log);

  // 6. q8 beside fp32.
  const q8: VariantBench = await measureQ8(modelDir, pixels, itemDims, photos, {
    layouts: layouts(),
    batchSizes: [1, 4],
    bareImages: settings.bareImages,
    bareSeconds: settings.bareSeconds,
    requests: settings.requests,
    profiledRequests: settings.profiledRequests,
    tuneSeconds: quick ? 0.2 : 3,
  }, log);

  // Overload: a queue bound below the concurrency answers 429 at once.
  const { base: overloadBase, server: overloaded } = await startServer('vit', modelDir, ['--max-queue-size', '4']);
  let overloadRow: LoadResult;
  try {
    overloadRow = await runLoad(`${overloadBase}/v1/classify`, 16, settings.overloadRequests, photos);
    log(`overload (queue bound 4, 16 clients): ${JSON.stringify(overloadRow.statuses)}`);
  } finally {
    await overloaded.stop();
  }

  // 2. The naive server, same model folder.
  const naivePort = await freePort();
  const naiveBase = `http://127.0.0.1:${naivePort}`;
  const naive = await startChild('bench/naive-server.ts', [modelDir, String(naivePort)], `${naiveBase}/healthz`);
  const naiveRows: (LoadResult & { health?: unknown })[] = [];
  try {
    for (const clients of [1, 16]) {
      const poller = clients === 16 ? pollLatency(`${naiveBase}/healthz`, POLL_MS) : undefined;
      const row = await runLoad(`${naiveBase}/v1/classify`, clients, settings.requests, photos);
      naiveRows.push({ ...row, health: await poller?.stop() });
      log(`naive ${clients} clients: ${row.throughput.toFixed(2)} img/s, p50 ${row.ok.p50.toFixed(0)} ms`);
    }
  } finally {
    await naive.stop();
  }

  const bareSameLayout = bare.find((b) => b.instances === oursLayout.instances && b.threads === oursLayout.threads && b.batchSize === 1);
  const result = {
    date: new Date().toISOString(),
    quick,
    cpu: await cpuDescription(),
    cores,
    model: { spec: settings.spec, dir: modelDir, dtype: 'fp32' },
    bare,
    best,
    bestAgain,
    oursLayout,
    bareSameLayout,
    ours: oursRows,
    tuned,
    overload: overloadRow,
    naive: naiveRows,
    stages,
    attention: attention!,
    q8,
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'bench.json'), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = markdownReport(result);
  await writeFile(path.join(outDir, 'bench.md'), markdown);
  console.log(markdown);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
