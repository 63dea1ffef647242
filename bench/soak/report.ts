/** The soak's printed lines, its summary and the markdown results file (tables and a sparkline). */
import os from 'node:os';
import { round } from '../stats.js';
import { mixShares } from './mix.js';
import { OUTCOMES, type Outcome } from './outcomes.js';
import { median, PLATEAU_SLOPE_FRACTION_PER_MINUTE, WARM_UP_FRACTION, type PlateauVerdict } from './plateau.js';
import type { ServerSample } from './sampler.js';
import { answeredOf, emptyCounts, sumOf, type OutcomeCounts, type Tally } from './tally.js';

export interface SoakSample extends ServerSample {
  answeredPerSecond: number;
  /** CPU over the interval, in cores (1 = one core busy): the server's, and this client's. */
  serverCores: number;
  clientCores: number;
  counts: OutcomeCounts;
}

export interface ServerExit {
  code: number | null;
  signal: string | null;
  seconds: number;
  withinDrainTimeout: boolean;
}

export interface SoakResult {
  command: string;
  date: string;
  minutes: number;
  concurrency: number;
  sampleSeconds: number;
  loadSeconds: number;
  samples: SoakSample[];
  tally: Tally;
  plateau: PlateauVerdict;
  exit: ServerExit;
  drainTimeoutMs: number;
  embeddingCacheBytes: number;
  failures: string[];
}

const f = (value: number, digits = 1) => round(value, digits).toFixed(digits);
const unanswered = (c: OutcomeCounts) => c.transport_error + c.timeout;

export function sampleLine(s: SoakSample): string {
  const c = s.counts;
  return (
    `${f(s.t, 0).padStart(5)} s  RSS ${f(s.rssMiB).padStart(7)} MiB  heap ${f(s.heapUsedMiB).padStart(6)}  ext ${f(s.externalMiB).padStart(6)}  ` +
    `lag p99 ${f(s.lagP99Ms).padStart(6)} ms max ${f(s.lagMaxMs).padStart(6)} ms  cores ${f(s.serverCores, 2)} + client ${f(s.clientCores, 2)}  ${f(s.answeredPerSecond).padStart(6)} answered/s  ` +
    `ok ${c.ok} 4xx ${c.expected_4xx} 429 ${c.overloaded_429} 5xx ${c.server_5xx} unexpected ${c.unexpected} aborted ${c.aborted} unanswered ${unanswered(c)}`
  );
}

const BARS = '▁▂▃▄▅▆▇█';

/** A one-line chart of `values` (at most `width` columns: each the mean of its bucket). */
export function sparkline(values: readonly number[], width = 80): string {
  const buckets = Math.min(width, values.length);
  const means = Array.from({ length: buckets }, (_, i) => {
    const part = values.slice(Math.floor((i * values.length) / buckets), Math.floor(((i + 1) * values.length) / buckets));
    return part.reduce((a, b) => a + b, 0) / part.length;
  });
  const low = Math.min(...means);
  const high = Math.max(...means);
  return means.map((v) => BARS[high > low ? Math.round(((v - low) / (high - low)) * (BARS.length - 1)) : 0]).join('');
}

function memory(r: SoakResult) {
  const rss = r.samples.map((s) => s.rssMiB);
  return { start: rss[0] ?? NaN, peak: Math.max(...rss), end: rss.at(-1) ?? NaN };
}

/** Mean cores busy between the first and the last sample. */
function cores(r: SoakResult, key: 'serverCpuSeconds' | 'clientCpuSeconds'): number {
  const first = r.samples[0];
  const last = r.samples.at(-1);
  return first && last && last.t > first.t ? (last[key] - first[key]) / (last.t - first.t) : NaN;
}

function summaryRows(r: SoakResult): [string, string][] {
  const { total } = r.tally;
  const m = memory(r);
  const p = r.plateau;
  const last = r.samples.at(-1);
  const loaded = r.samples.slice(1); // the t = 0 sample is the idle server
  return [
    ['load', `${f(r.loadSeconds / 60, 2)} min, ${r.concurrency} clients, samples every ${r.sampleSeconds} s`],
    ['RSS start / peak / end', `${f(m.start)} / ${f(m.peak)} / ${f(m.end)} MiB`],
    ['answered requests/s (overall)', `${f(answeredOf(total) / r.loadSeconds, 2)} (${answeredOf(total)} answered of ${sumOf(total)} sent)`],
    ['outcomes', OUTCOMES.map((o) => `${o} ${total[o]}`).join(', ')],
    ['5xx', `${total.server_5xx} (must be 0)`],
    ['unanswered (transport errors + no answer within 60 s)', `${unanswered(total)} (must be 0)`],
    ['unexpected (a wrong status, or a stream that did not end properly)', `${total.unexpected} (must be 0)`],
    ['the server\'s own count of its answers, by code', Object.entries(last?.serverCodes ?? {}).sort(([, a], [, b]) => b - a).map(([code, n]) => `${code} ${n}`).join(', ')],
    ['worker restarts', String(last?.workerRestarts ?? NaN)],
    ['CPU, in cores busy (whole load)', `server ${f(cores(r, 'serverCpuSeconds'), 2)}, soak client ${f(cores(r, 'clientCpuSeconds'), 2)} (of ${os.availableParallelism()})`],
    [
      'event-loop lag p99 per interval: median / worst',
      `${f(median(loaded.map((s) => s.lagP99Ms)))} / ${f(Math.max(...loaded.map((s) => s.lagP99Ms)))} ms (worst max ${f(Math.max(...loaded.map((s) => s.lagMaxMs)))} ms)`,
    ],
    [
      'RSS slope, second half (least squares)',
      `${f(p.slopeMiBPerMinute, 2)} ± ${f(p.slopeErrorMiBPerMinute, 2)} MiB/min = ${f(p.slopeFractionPerMinute * 100, 2)}% of RSS per min over ${p.samplesFitted} samples ` +
        `(plateau below ${f(PLATEAU_SLOPE_FRACTION_PER_MINUTE * 100, 0)}%: ${f(p.thresholdMiBPerMinute, 2)} MiB/min)`,
    ],
    ['RSS growth, first post-warm-up quarter → last quarter (medians)', `${f(p.earlyMedianMiB)} → ${f(p.lateMedianMiB)} MiB (${p.growth >= 0 ? '+' : ''}${f(p.growth * 100, 2)}%)`],
    ['memory verdict', `${p.plateau ? 'plateau' : '**no plateau**'}${r.minutes < 5 ? ` (a ${r.minutes}-minute run is mostly warm-up: RSS is still finding its working size; the default 10 minutes is the test)` : ''}`],
    ['server exit after SIGTERM', `${r.exit.code === null ? `signal ${r.exit.signal}` : `code ${r.exit.code}`} after ${f(r.exit.seconds)} s (drain timeout ${r.drainTimeoutMs / 1000} s${r.exit.withinDrainTimeout ? '' : ': **exceeded**'})`],
    ['result', r.failures.length ? `**FAIL**: ${r.failures.join('; ')}` : 'pass'],
  ];
}

export function printSummary(r: SoakResult): string {
  const rows = [['request kind', ...OUTCOMES, 'total', 'answered/s'], ...endpointRows(r)];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((row) => `  ${row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  ')}`);
  const lines = ['', 'soak summary', ...summaryRows(r).map(([k, v]) => `  ${k}: ${v.replace(/\*\*/g, '')}`), '', 'per endpoint:', ...table];
  if (r.tally.reasons.size) lines.push('', 'first failing outcomes:', ...[...r.tally.reasons].map((x) => `  ${x}`));
  lines.push('', `RSS ${sparkline(r.samples.map((s) => s.rssMiB))}`);
  return lines.join('\n');
}

function endpointRows(r: SoakResult): string[][] {
  const names = [...new Set([...mixShares().map((m) => m.name), ...r.tally.byEndpoint.keys()])];
  return names.map((name) => {
    const counts = r.tally.byEndpoint.get(name) ?? emptyCounts();
    return [name, ...OUTCOMES.map((o) => String(counts[o])), String(sumOf(counts)), f(answeredOf(counts) / r.loadSeconds, 2)];
  });
}

export function markdownReport(r: SoakResult): string {
  const cpus = os.cpus();
  const shares = mixShares();
  const rss = r.samples.map((s) => s.rssMiB);
  return [
    '# Soak: every endpoint at saturation',
    '',
    `${r.date} · \`${r.command}\` · ${cpus.length} cores (${cpus[0]?.model ?? 'unknown CPU'}) · ${f(os.totalmem() / 2 ** 30)} GiB · Node ${process.version} · ${os.platform()} ${os.release()}`,
    '',
    `The demo models (random weights) served by \`src/server/main.ts --demo\` as a child process; ${r.concurrency} closed-loop clients draw weighted request kinds ` +
      `over HTTP and gRPC for ${r.minutes} min; every ${r.sampleSeconds} s the server's RSS (/proc), heap, event-loop lag, CPU and the outcome counts are sampled. ` +
      `The server runs with \`MMS_EMBEDDING_CACHE_BYTES=${r.embeddingCacheBytes}\` so its caches fill within the warm-up and then evict, instead of growing through the run. ` +
      `Warm-up: the first ${f(WARM_UP_FRACTION * 100, 0)}% of the run.`,
    '',
    '## Summary',
    '',
    '| | |',
    '|---|---|',
    ...summaryRows(r).map(([k, v]) => `| ${k} | ${v} |`),
    '',
    '## Per endpoint (whole run)',
    '',
    `| request kind | share of draws | ${OUTCOMES.join(' | ')} | total | answered/s |`,
    `|---|---|${OUTCOMES.map(() => '---|').join('')}---|---|`,
    ...endpointRows(r).map(([name, ...cells]) => `| ${name} | ${f((shares.find((s) => s.name === name)?.share ?? 0) * 100)}% | ${cells.join(' | ')} |`),
    '',
    'A two-turn chat counts each turn. `expected_4xx`: a deliberately bad request got its 4xx; `aborted`: the client left on purpose (no answer expected).',
    ...(r.tally.reasons.size ? ['', '## First failing outcomes', '', ...[...r.tally.reasons].map((x) => `- ${x}`)] : []),
    '',
    '## RSS over the run',
    '',
    `\`${sparkline(rss)}\` ${f(Math.min(...rss))}–${f(Math.max(...rss))} MiB`,
    '',
    `| t (s) | RSS MiB | heap used MiB | external MiB | caches MiB | lag p99 ms | lag max ms | server cores | client cores | answered/s | ${OUTCOMES.join(' | ')} |`,
    `|---|---|---|---|---|---|---|---|---|---|${OUTCOMES.map(() => '---|').join('')}`,
    ...r.samples.map(
      (s) =>
        `| ${f(s.t, 0)} | ${f(s.rssMiB)} | ${f(s.heapUsedMiB)} | ${f(s.externalMiB)} | ${f(s.cachesMiB, 2)} | ${f(s.lagP99Ms)} | ${f(s.lagMaxMs)} | ` +
        `${f(s.serverCores, 2)} | ${f(s.clientCores, 2)} | ${f(s.answeredPerSecond)} | ${OUTCOMES.map((o: Outcome) => s.counts[o]).join(' | ')} |`,
    ),
    '',
  ].join('\n');
}
