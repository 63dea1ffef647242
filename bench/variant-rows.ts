/**
 * The q8 rows of `npm run bench`: the bare limit of `model_quantized.onnx` per layout, and the
 * server serving it as `vit:q8` at 16 clients, beside the fp32 rows of the same run: ours/limit
 * for each dtype, the milliseconds the server adds per image for each (target: within ±20% of
 * each other), and the server's q8/fp32 speed-up next to the bare one.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { measureBare, type BareResult, type Layout } from './bare-limit.js';
import { runLoad, type LoadResult, type Photo } from './load-generator.js';
import { freePort, startChild } from './processes.js';
import { round } from './stats.js';

export interface VariantBench {
  bare: BareResult[];
  ours: LoadResult;
}

export interface VariantSettings {
  layouts: Layout[];
  batchSizes: number[];
  bareImages: number;
  bareSeconds: number;
  requests: number;
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
  // The q8 tag comes from a config file's `variant` (flags name folders, not tags).
  const work = await mkdtemp(path.join(os.tmpdir(), 'mms-bench-q8-'));
  const config = path.join(work, 'server.json');
  await writeFile(config, JSON.stringify({ models: [{ id: 'vit', dir: modelDir, variant: 'q8' }] }));
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['--config', config, '--port', String(port), '--grpc-port', String(await freePort()), '--host', '127.0.0.1'];
  const server = await startChild('src/server/main.ts', args, `${base}/readyz`);
  try {
    await agreementSettled(base);
    await runLoad(`${base}/v1/classify`, 16, 32, photos, { model: 'vit:q8' });
    const ours = await runLoad(`${base}/v1/classify`, 16, settings.requests, photos, { model: 'vit:q8' });
    log(`ours q8, 16 clients: ${ours.throughput.toFixed(2)} img/s (${JSON.stringify(ours.statuses)})`);
    return { bare, ours };
  } finally {
    await server.stop();
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
export function variantMarkdown(q8: VariantBench, fp32: { limit: number; ours16: number }): string {
  const q8Limit = Math.max(...q8.bare.map((b) => b.imagesPerSecond));
  const best = q8.bare.find((b) => b.imagesPerSecond === q8Limit)!;
  const added = (ours: number, limit: number) => 1000 / ours - 1000 / limit;
  const addedFp32 = added(fp32.ours16, fp32.limit);
  const addedQ8 = added(q8.ours.throughput, q8Limit);
  const within = Math.abs(addedQ8 - addedFp32) <= 0.2 * Math.abs(addedFp32);
  return [
    '## q8 (dynamic quantisation) beside fp32 (16 clients)',
    '',
    '| dtype | bare limit img/s | ours img/s | ours ÷ limit | ms the server adds per image |',
    '|---|---|---|---|---|',
    `| fp32 | ${round(fp32.limit)} | ${round(fp32.ours16)} | ${round(fp32.ours16 / fp32.limit)} | ${round(addedFp32, 1)} |`,
    `| q8 | ${round(q8Limit)} (${best.instances} × ${best.threads}, batch ${best.batchSize}) | ${round(q8.ours.throughput)} | ${round(q8.ours.throughput / q8Limit)} | ${round(addedQ8, 1)} |`,
    '',
    `q8 ÷ fp32: bare ${round(q8Limit / fp32.limit)} ×, through the server ${round(q8.ours.throughput / fp32.ours16)} ×. ` +
      `Bare q8 rows: ${q8.bare.map((b) => `${b.instances} × ${b.threads} batch ${b.batchSize}: ${round(b.imagesPerSecond)}`).join('; ')}. ` +
      'Added ms per image = 1000 ÷ ours − 1000 ÷ limit (the wall time each answer costs beyond the bare session at saturation).',
    '',
    `- the server's added ms per image for q8 within ±20% of fp32's: ${round(addedQ8, 1)} vs ${round(addedFp32, 1)} — ${within ? 'met' : '**missed**'}`,
    '',
  ].join('\n');
}
