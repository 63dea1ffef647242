/**
 * What the soak samples from the server: its resident memory (/proc/<pid>/status, Linux) and,
 * from /metrics, the V8 heap, memory outside it, the event-loop lag and the errors the server
 * counted itself. The lag histogram (prom-client over monitorEventLoopDelay) is reset by every
 * scrape, the mix's included, so each scrape's p99 and max are folded into the interval's.
 */
import { readFile } from 'node:fs/promises';

export interface ServerSample {
  /** Seconds since the load started. */
  t: number;
  rssMiB: number;
  heapUsedMiB: number;
  externalMiB: number;
  /** Worst p99 and max event-loop delay over the interval's scrapes, in ms. */
  lagP99Ms: number;
  lagMaxMs: number;
  /** Bytes the server's caches say they hold (embedding and decode caches), MiB. */
  cachesMiB: number;
  /** The server's own counts since start: its answers by error code (`ok` included), worker replacements. */
  serverCodes: Record<string, number>;
  workerRestarts: number;
  /** CPU seconds since start: the server's (all its threads, /proc), and this soak client's own. */
  serverCpuSeconds: number;
  clientCpuSeconds: number;
}

export async function residentMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
  if (!Number.isFinite(kib)) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return kib / 1024;
}

/** The sum of every series of `name` (any labels) in a Prometheus text exposition. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    sum += Number(rest.slice(rest.lastIndexOf(' ') + 1)) || 0;
  }
  return sum;
}

/** `name`'s series summed per value of `label`. */
export function metricSumsBy(text: string, name: string, label: string): Record<string, number> {
  const sums: Record<string, number> = {};
  const pattern = new RegExp(`[{,]${label}="([^"]*)"`);
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const value = pattern.exec(line)?.[1];
    if (value !== undefined) sums[value] = (sums[value] ?? 0) + (Number(line.slice(line.lastIndexOf(' ') + 1)) || 0);
  }
  return sums;
}

/** User + system CPU seconds of a process, all threads (/proc/<pid>/stat fields 14 and 15, in 1/100 s). */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces: count fields after its closing parenthesis.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** The worst event-loop lag seen by any scrape since the last `take()`. */
export class LagWatch {
  private p99 = 0;
  private max = 0;

  observe(metricsText: string): void {
    this.p99 = Math.max(this.p99, metricSum(metricsText, 'nodejs_eventloop_lag_p99_seconds') * 1000);
    this.max = Math.max(this.max, metricSum(metricsText, 'nodejs_eventloop_lag_max_seconds') * 1000);
  }

  take(): { p99Ms: number; maxMs: number } {
    const taken = { p99Ms: this.p99, maxMs: this.max };
    this.p99 = this.max = 0;
    return taken;
  }
}

const MIB = 1024 * 1024;

function cpuOfThisProcess(): number {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1e6;
}

/** One sample: /proc for RSS, one /metrics scrape (which the lag watch also sees). */
export async function sampleServer(pid: number, base: string, t: number, lag: LagWatch): Promise<ServerSample> {
  const response = await fetch(`${base}/metrics`, { signal: AbortSignal.timeout(30_000) });
  const text = await response.text();
  lag.observe(text);
  const worst = lag.take();
  return {
    t,
    rssMiB: await residentMiB(pid),
    heapUsedMiB: metricSum(text, 'nodejs_heap_size_used_bytes') / MIB,
    externalMiB: metricSum(text, 'nodejs_external_memory_bytes') / MIB,
    lagP99Ms: worst.p99Ms,
    lagMaxMs: worst.maxMs,
    cachesMiB: (metricSum(text, 'mms_embedding_cache_bytes') + metricSum(text, 'mms_decode_cache_bytes')) / MIB,
    serverCodes: metricSumsBy(text, 'mms_requests_total', 'code'),
    workerRestarts: metricSum(text, 'mms_worker_restarts_total'),
    serverCpuSeconds: await cpuSeconds(pid),
    clientCpuSeconds: cpuOfThisProcess(),
  };
}
