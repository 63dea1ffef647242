/** The benchmark's markdown report and the machine it ran on. */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { attentionMarkdown, type AttentionBench } from './attention-rows.js';
import type { BareResult, Layout } from './bare-limit.js';
import type { TunedRow } from './tuned-row.js';
import { variantMarkdown, type VariantBench } from './variant-rows.js';
import type { LoadResult } from './load-generator.js';
import { stageMarkdown, type ProfiledLoad, type RowCpu, type StageTable } from './stage-accounting.js';
import { round, type LatencySummary } from './stats.js';

export async function cpuDescription(): Promise<{ model: string; flags: string[] }> {
  const interesting = ['avx2', 'avx512f', 'avx512_vnni', 'avx_vnni', 'amx_tile', 'fma'];
  let flags: string[] = [];
  try {
    const line = (await readFile('/proc/cpuinfo', 'utf8')).split('\n').find((l) => l.startsWith('flags'));
    flags = (line?.split(':')[1] ?? '').trim().split(/\s+/).filter((f) => interesting.includes(f));
  } catch {
    // not Linux
  }
  return { model: os.cpus()[0]?.model ?? 'unknown', flags };
}

interface BenchResult {
  date: string;
  quick: boolean;
  cpu: { model: string; flags: string[] };
  cores: number;
  bare: BareResult[];
  best: BareResult;
  bestAgain: BareResult;
  oursLayout: Layout;
  bareSameLayout: BareResult | undefined;
  ours: (LoadResult & { polled: boolean; health?: unknown; metrics?: unknown; meanBatchFromMetrics: number })[];
  tuned: TunedRow;
  overload: LoadResult;
  naive: (LoadResult & { health?: unknown })[];
  stages: { bare: BareResult; cpu: RowCpu; profiled: ProfiledLoad; table: StageTable };
  attention: AttentionBench;
  q8: VariantBench;
}

const ms = (value: number) => `${round(value, 1)}`;
const check = (ok: boolean) => (ok ? 'met' : '**missed**');

function latencyCells(s: LatencySummary): string {
  return `${ms(s.p50)} | ${ms(s.p95)} | ${ms(s.p99)} (n=${s.n})`;
}

export function markdownReport(r: BenchResult): string {
  const ours16 = r.ours.find((row) => row.clients === 16 && !row.polled)!;
  const oursPolled = r.ours.find((row) => row.polled)!;
  const ours1 = r.ours.find((row) => row.clients === 1)!;
  const naive16 = r.naive.find((row) => row.clients === 16)!;
  const health = oursPolled.health as LatencySummary;
  const metrics = oursPolled.metrics as LatencySummary;
  const naiveHealth = naive16.health as LatencySummary;
  const limit = Math.max(r.best.imagesPerSecond, r.bestAgain.imagesPerSecond);
  const drift = r.bestAgain.imagesPerSecond / r.best.imagesPerSecond - 1;
  const addedLatency = ours1.ok.p50 - (r.bareSameLayout?.run.p50 ?? NaN) - (ours1.meanPreprocessMs ?? 0);
  const lines = [
    `# Benchmark: ViT image classification, fp32, CPU${r.quick ? ' (quick: tiny model, not a measurement)' : ''}`,
    '',
    `${r.date} · ${r.cpu.model} · ${r.cores} cores · flags: ${r.cpu.flags.join(' ') || 'n/a'} · \`npm run bench${r.quick ? ' -- --quick' : ''}\``,
    '',
    '## Throughput and latency (one run; latency in ms over the 200 answers)',
    '',
    '| row | clients | layout (workers × threads) | img/s | p50 | p95 | p99 | mean batch | ÷ limit | ÷ naive (same clients) |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...r.bare.map(
      (b) =>
        `| limit (bare, batch ${b.batchSize}) | – | ${b.instances} × ${b.threads} | ${round(b.imagesPerSecond)} | ${latencyCells(b.run)} | ${b.batchSize} | ${round(b.imagesPerSecond / limit)} | |`,
    ),
    ...r.naive.map((row) => `| naive (transformers.js) | ${row.clients} | main thread | ${round(row.throughput)} | ${latencyCells(row.ok)} | 1 | ${round(row.throughput / limit)} | 1 |`),
    ...r.ours.map((row) => {
      // The naive 16-client row is polled (/healthz): compare it with our polled row.
      const naive = row.clients === 16 && !row.polled ? undefined : r.naive.find((n) => n.clients === row.clients);
      return `| ours (HTTP, multipart${row.polled ? '; /healthz, /metrics polled at 5 Hz' : ''}) | ${row.clients} | ${r.oursLayout.instances} × ${r.oursLayout.threads} | ${round(row.throughput)} | ${latencyCells(row.ok)} | ${round(row.meanBatchFromMetrics)} | ${round(row.throughput / limit)} | ${naive ? round(row.throughput / naive.throughput) : ''} |`;
    }),
    `| ours (HTTP, multipart), tuned layout | 16 | ${r.tuned.layout.instances} × ${r.tuned.layout.threads} | ${round(r.tuned.row.throughput)} | ${latencyCells(r.tuned.row.ok)} | ${round(r.tuned.row.meanBatchSize ?? NaN)} | ${round(r.tuned.row.throughput / limit)} | |`,
    '',
    `Limit = the best bare row (${r.best.instances} × ${r.best.threads}, batch ${r.best.batchSize}): ${round(r.best.imagesPerSecond)} img/s before the ` +
      `load rows, ${round(r.bestAgain.imagesPerSecond)} after them (drift ${round(drift * 100, 1)}%); ratios divide by the higher, ${round(limit)} img/s. ` +
      `The server's default layout is ${r.oursLayout.instances} × ${r.oursLayout.threads}` +
      `${r.best.instances === r.oursLayout.instances && r.best.threads === r.oursLayout.threads ? ' (the best one).' : ' (NOT the best bare layout).'}` +
      ` The tuned row is a server started with \`--tune\` (${r.tuned.layout.source}: ${r.tuned.layout.instances} × ${r.tuned.layout.threads}, batches of at most ${r.tuned.layout.maxBatchSize}): ` +
      `the default layout's one 2-thread session waits at every parallel step for a thread that preprocessing or HTTP took the core from ` +
      `(the stage table's session run costs more CPU than the bare one), where single-thread sessions only lose the time taken.`,
    '',
    '## Responsiveness under the 16-client load (each endpoint polled every 200 ms)',
    '',
    '| endpoint | p50 | p95 | p99 |',
    '|---|---|---|---|',
    `| ours /healthz | ${latencyCells(health)} |`,
    `| ours /metrics | ${latencyCells(metrics)} |`,
    `| naive /healthz | ${latencyCells(naiveHealth)} |`,
    '',
    `Overload (queue bound 4, 16 clients, ${r.overload.ok.n + (r.overload.statuses['429'] ?? 0)} requests): statuses ${JSON.stringify(r.overload.statuses)}.`,
    '',
    '## Where the CPU goes (16 clients, CPU-ms per image)',
    '',
    `Per-thread CPU of the 16-client row (/proc schedstat), each JS thread split into stages by the samples of a ` +
      `profiled re-run (\`node --cpu-prof\`, ${r.stages.profiled.images} images). The bare session ran ${r.stages.bare.instances} × ` +
      `${r.stages.bare.threads}, batch ${r.stages.bare.batchSize}.`,
    '',
    stageMarkdown(r.stages.table, r.stages.cpu),
    '',
    attentionMarkdown(r.attention),
    variantMarkdown(r.q8, { limit, ours16: ours16.throughput, extraCpuMs: r.stages.table.extraMsPerImage }),
    '## Targets',
    '',
    `- ours/limit at 16 clients ≥ 0.93, tuned layout (${r.tuned.layout.instances} × ${r.tuned.layout.threads}): ${round(r.tuned.row.throughput / limit, 3)} — ${check(r.tuned.row.throughput / limit >= 0.93)}; ` +
      `default layout (${r.oursLayout.instances} × ${r.oursLayout.threads}, latency first): ${round(ours16.throughput / limit, 3)} ` +
      `(÷ the bare session in that layout at the batch size it ran, ${r.stages.bare.instances} × ${r.stages.bare.threads} batch ${r.stages.bare.batchSize}: ` +
      `${round(ours16.throughput / r.stages.bare.imagesPerSecond)})`,
    `- the server's extra CPU per image (all but the session run) ≤ 12 ms: ${ms(r.stages.table.extraMsPerImage)} ms — ${check(r.stages.table.extraMsPerImage <= 12)}`,
    `- /healthz and /metrics p95 ≤ 20 ms under load: ${ms(health.p95)} / ${ms(metrics.p95)} ms — ${check(health.p95 <= 20 && metrics.p95 <= 20)}`,
    `- p99/p50 ≤ 1.3 at 16 clients: ${round(ours16.ok.p99 / ours16.ok.p50)} — ${check(ours16.ok.p99 / ours16.ok.p50 <= 1.3)}`,
    `- 429 past the queue bound: ${r.overload.statuses['429'] ?? 0} answered 429 — ${check((r.overload.statuses['429'] ?? 0) > 0)}`,
    `- p50 added latency at 1 client over the bare run (same layout, batch 1) minus preprocessing (${ms(ours1.meanPreprocessMs ?? NaN)} ms) ≤ 3 ms: ${ms(addedLatency)} ms — ${check(addedLatency <= 3)}`,
    `- ours/naive at 16 clients, both polled (reported as measured): ${round(oursPolled.throughput / naive16.throughput)}`,
    '',
  ];
  return lines.join('\n');
}
