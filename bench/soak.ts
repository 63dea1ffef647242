/**
 * `npm run soak` (issue #30): every endpoint, on both transports, at saturation for a set time
 * (default 10 minutes), against the real server with the demo models as a child process.
 * Measures whether the server holds up over time: its RSS every few seconds (start, peak, end,
 * and whether it plateaus: the least-squares slope over the second half of the run), its
 * event-loop lag, answered requests per second, and every request's outcome per endpoint. A few
 * percent of the requests are bad on purpose (corrupt images, unknown models) or leave early
 * (mid-upload, while queued, mid-stream), so the error paths are soaked too.
 * Fails (exit 1) on any 5xx, any request left unanswered (transport error, or nothing within
 * 60 s), any wrong answer, no plateau, or a server that does not exit 0 within its drain timeout
 * after SIGTERM. Writes bench/results/soak.md (`--out`). Not in CI: it takes minutes.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { freePort, startChild } from './processes.js';
import { prepareFixtures, type Fixtures } from './soak/fixtures.js';
import { inferenceClient } from './soak/grpc-client.js';
import { httpCall, newHttpTarget, type HttpTarget } from './soak/http-client.js';
import { nextKind, type MixContext } from './soak/mix.js';
import { parseOptions } from './soak/options.js';
import { plateauVerdict } from './soak/plateau.js';
import { markdownReport, printSummary, sampleLine, type ServerExit, type SoakResult, type SoakSample } from './soak/report.js';
import { LagWatch, sampleServer } from './soak/sampler.js';
import { answeredOf, Tally } from './soak/tally.js';

const log = (message: string) => console.error(`[soak] ${message}`);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The server's embedding and chat-feature caches (64 MiB per model by default) would take most of a
 * 10-minute run to fill with the mix's new labels and fresh chat images, and that filling would
 * read as growth. At 1 MiB they fill within the warm-up and then evict on every miss: the
 * eviction path is soaked, and RSS growth after warm-up means something else.
 */
const EMBEDDING_CACHE_BYTES = 1 << 20;
const DRAIN_TIMEOUT_MS = Number(process.env.MMS_DRAIN_TIMEOUT_MS ?? 25_000);

/** Photo name → a label, for the alignment's examples. */
const PHOTO_LABELS: Record<string, string> = { 'chelsea.png': 'cat', 'coffee.png': 'coffee cup', 'astronaut.png': 'astronaut', 'rocket.jpg': 'rocket' };

/** Fits the alignment the aligned zero-shot requests use (on the photos at several sizes). */
async function fitAlignment(http: HttpTarget, name: string, fixtures: Fixtures): Promise<void> {
  const examples = fixtures.images.map((image) => ({ image: image.base64, label: PHOTO_LABELS[image.name.split('@')[0]!]! }));
  const answer = await httpCall(http, { method: 'POST', path: '/v1/zero-shot/alignments', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name, model: 'clip-demo', examples, holdout: 0.2 }) });
  if (answer.kind !== 'answered' || answer.status !== 200) throw new Error(`fitting alignment '${name}' failed: ${answer.kind === 'answered' ? `${answer.status} ${answer.body.toString('utf8', 0, 300)}` : answer.kind}`);
}

/** One closed-loop client: the next weighted request kind until the end of the load. */
async function client(ctx: MixContext, untilMs: number): Promise<void> {
  while (Date.now() < untilMs) {
    const kind = nextKind();
    try {
      await kind.run(ctx);
    } catch (error) {
      // A bug in the soak, or an answer it cannot read (e.g. a 200 that is not JSON).
      ctx.tally.record(kind.name, 'unexpected', `the soak client threw: ${String(error)}`);
    }
  }
}

/** SIGTERM, then the exit; SIGKILL if it outlives the drain timeout by 10 s. */
function stopServer(child: ChildProcess): Promise<ServerExit> {
  const started = performance.now();
  return new Promise((resolve) => {
    const exited = (code: number | null, signal: string | null) => {
      const seconds = (performance.now() - started) / 1000;
      resolve({ code, signal, seconds, withinDrainTimeout: seconds * 1000 <= DRAIN_TIMEOUT_MS });
    };
    if (child.exitCode !== null || child.signalCode !== null) return exited(child.exitCode, child.signalCode);
    const kill = setTimeout(() => child.kill('SIGKILL'), DRAIN_TIMEOUT_MS + 10_000);
    child.once('exit', (code, signal) => {
      clearTimeout(kill);
      exited(code, signal);
    });
    child.kill('SIGTERM');
  });
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const options = parseOptions(argv);
  const command = `npm run soak${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  const fixtures = await prepareFixtures();
  const [port, grpcPort] = [await freePort(), await freePort()];
  const base = `http://127.0.0.1:${port}`;
  log(`starting the demo server (models cached in ~/.cache/multimodal-server/generated) on :${port}, gRPC :${grpcPort}`);
  const server = await startChild('src/server/main.ts', ['--demo', '--port', String(port), '--grpc-port', String(grpcPort), '--host', '127.0.0.1'], `${base}/readyz`, {
    env: { MMS_EMBEDDING_CACHE_BYTES: String(EMBEDDING_CACHE_BYTES), MMS_DRAIN_TIMEOUT_MS: String(DRAIN_TIMEOUT_MS) },
  });
  const pid = server.process.pid!;
  const http = newHttpTarget(port, options.concurrency);
  const grpc = inferenceClient(grpcPort);
  const alignment = `soak-${process.pid}`;
  const tally = new Tally();
  const lag = new LagWatch();
  const ctx: MixContext = { http, grpc, fixtures, alignment, tally, onMetrics: (text) => lag.observe(text) };
  const samples: SoakSample[] = [];
  const failures: string[] = [];
  let loadSeconds = NaN;
  let exit: ServerExit = { code: null, signal: null, seconds: NaN, withinDrainTimeout: false };
  try {
    await fitAlignment(http, alignment, fixtures);
    const started = performance.now();
    const elapsed = () => (performance.now() - started) / 1000;
    const takeSample = async () => {
      const t = elapsed();
      const counts = tally.takeInterval();
      try {
        const server = await sampleServer(pid, base, t, lag);
        const previous = samples.at(-1);
        const span = previous && t > previous.t ? t - previous.t : NaN;
        const perSecond = (now: number, before: number | undefined) => (previous ? (now - before!) / span : 0);
        const sample = {
          ...server,
          answeredPerSecond: previous ? answeredOf(counts) / span : 0,
          serverCores: perSecond(server.serverCpuSeconds, previous?.serverCpuSeconds),
          clientCores: perSecond(server.clientCpuSeconds, previous?.clientCpuSeconds),
          counts,
        };
        samples.push(sample);
        log(sampleLine(sample));
      } catch (error) {
        failures.push(`sample at ${Math.round(t)} s failed: ${String(error)}`);
        log(`sample at ${Math.round(t)} s failed: ${String(error)}`);
      }
    };
    log(`${options.concurrency} clients for ${options.minutes} min, a sample every ${options.sampleSeconds} s`);
    await sampleServer(pid, base, 0, lag); // resets the lag histogram: start-up's lag is not the soak's
    await takeSample(); // t = 0: the ready server before any load
    const untilMs = Date.now() + options.minutes * 60_000;
    let loading = true;
    const load = Promise.all(Array.from({ length: options.concurrency }, () => client(ctx, untilMs))).finally(() => (loading = false));
    const sampling = (async () => {
      while (loading) {
        // The next multiple of the interval: a slow scrape delays one sample, not all that follow.
        const next = (Math.floor(elapsed() / options.sampleSeconds) + 1) * options.sampleSeconds;
        await Promise.race([sleep((next - elapsed()) * 1000), load]);
        if (loading) await takeSample();
      }
    })();
    await load;
    loadSeconds = elapsed();
    await sampling;
    await takeSample(); // the end: every request answered or given up
    // The alignment is stored in the user's cache dir: leave nothing behind.
    const removed = await httpCall(http, { method: 'DELETE', path: `/v1/zero-shot/alignments/${alignment}` });
    if (removed.kind !== 'answered' || removed.status >= 300) log(`could not delete alignment '${alignment}' (${removed.kind === 'answered' ? removed.status : removed.kind})`);
  } finally {
    http.agent.destroy();
    grpc.close();
    if (server.process.exitCode !== null) failures.push(`the server exited during the soak (code ${server.process.exitCode})`);
    exit = await stopServer(server.process);
  }

  const plateau = plateauVerdict(samples, options.minutes * 60);
  const { total } = tally;
  if (total.server_5xx) failures.push(`${total.server_5xx} 5xx answers`);
  if (total.transport_error + total.timeout) failures.push(`${total.transport_error + total.timeout} requests unanswered`);
  if (total.unexpected) failures.push(`${total.unexpected} unexpected answers`);
  if (!plateau.plateau) failures.push('RSS did not plateau');
  if (exit.code !== 0 || !exit.withinDrainTimeout) failures.push(`server exit ${exit.code ?? exit.signal} after ${exit.seconds.toFixed(1)} s (drain timeout ${DRAIN_TIMEOUT_MS / 1000} s)`);

  const result: SoakResult = {
    command,
    date: new Date().toISOString(),
    minutes: options.minutes,
    concurrency: options.concurrency,
    sampleSeconds: options.sampleSeconds,
    loadSeconds,
    samples,
    tally,
    plateau,
    exit,
    drainTimeoutMs: DRAIN_TIMEOUT_MS,
    embeddingCacheBytes: EMBEDDING_CACHE_BYTES,
    failures,
  };
  console.log(printSummary(result));
  await mkdir(path.dirname(options.out), { recursive: true });
  await writeFile(options.out, markdownReport(result));
  log(`wrote ${path.relative(process.cwd(), options.out)}`);
  process.exitCode = failures.length ? 1 : 0;
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
