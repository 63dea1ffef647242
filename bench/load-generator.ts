/**
 * A closed-loop HTTP load generator: `clients` concurrent loops (keep-alive node:http), each
 * posting real photos as multipart (encoded once) until `requests` answers came back. Also a poller that
 * measures a GET endpoint's latency while the load runs.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import { summarize, type LatencySummary } from './stats.js';

/** The shared folder's photos (CC0/public domain), as the benchmarks post them. */
const SHARED_IMAGES = path.join(process.env.SHARED_DIR ?? path.resolve(import.meta.dirname, '..', '..', 'shared'), 'images');
const PHOTO_NAMES = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'];

/** The four shared photos, read once, each posted with its own content type. */
export function sharedPhotos(): Promise<Photo[]> {
  return Promise.all(
    PHOTO_NAMES.map(async (name) => ({ name, bytes: new Uint8Array(await readFile(path.join(SHARED_IMAGES, name))), type: name.endsWith('.png') ? 'image/png' : 'image/jpeg' })),
  );
}

/** One sample of the server's /metrics (0 when the series is absent). */
export async function metricValue(base: string, series: string): Promise<number> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

/**
 * One POST over a keep-alive agent, the whole answer read. node:http rather than fetch: the
 * generator shares the server's cores, and fetch's stream machinery costs it several CPU-ms per
 * request. A JSON answer comes back parsed; another (a PNG) as its size.
 */
function post(agent: http.Agent, url: string, body: Uint8Array | string, contentType: string): Promise<{ status: number; answer: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': contentType, 'content-length': Buffer.byteLength(body) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const bytes = Buffer.concat(chunks);
        const json = (res.headers['content-type'] ?? '').includes('json');
        try {
          resolve({ status: res.statusCode ?? 0, answer: json ? JSON.parse(bytes.toString('utf8')) : { bytes: bytes.length } });
        } catch (error) {
          reject(error);
        }
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

export interface Photo {
  name: string;
  bytes: Uint8Array;
  type: string;
}

export interface LoadResult {
  clients: number;
  seconds: number;
  /** 200 answers per second. */
  throughput: number;
  ok: LatencySummary;
  statuses: Record<string, number>;
  /** Mean `timing.batch_size` and `timing.preprocess_ms` over the 200 answers (ours only). */
  meanBatchSize: number | undefined;
  meanPreprocessMs: number | undefined;
}

/**
 * Each photo's multipart body (with `fields` before the image), encoded once: the load generator
 * shares the server's cores, so it should spend as little CPU per request as a client on another
 * machine costs the server.
 */
async function multipartBodies(photos: Photo[], fields: Record<string, string>): Promise<{ body: Uint8Array<ArrayBuffer>; contentType: string }[]> {
  return Promise.all(
    photos.map(async (photo) => {
      const form = new FormData();
      for (const [name, value] of Object.entries(fields)) form.append(name, value);
      form.append('image', new Blob([photo.bytes as Uint8Array<ArrayBuffer>], { type: photo.type }), photo.name);
      const encoded = new Response(form);
      return { body: new Uint8Array(await encoded.arrayBuffer()), contentType: encoded.headers.get('content-type')! };
    }),
  );
}

/** What a closed loop gathered: the 200 answers (parsed, in order of arrival) and their latencies. */
interface LoopOutcome<Answer> {
  seconds: number;
  latencies: number[];
  statuses: Record<string, number>;
  answers: Answer[];
  /** The first few distinct reasons of requests that got no answer. */
  errors: string[];
}

/** `clients` loops post `requestFor(i)` (the i-th request) over one keep-alive agent until `requests` were sent. */
async function closedLoop<Answer>(
  url: string,
  clients: number,
  requests: number,
  requestFor: (i: number) => { body: Uint8Array | string; contentType: string },
): Promise<LoopOutcome<Answer>> {
  const latencies: number[] = [];
  const statuses: Record<string, number> = {};
  const answers: Answer[] = [];
  const errors = new Set<string>();
  let sent = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const started = performance.now();
  const loop = async () => {
    while (sent < requests) {
      const { body, contentType } = requestFor(sent++);
      const t0 = performance.now();
      let status = 'error';
      try {
        const res = await post(agent, url, body, contentType);
        status = String(res.status);
        if (res.status === 200) {
          latencies.push(performance.now() - t0);
          answers.push(res.answer as Answer);
        }
      } catch (error) {
        // counted as 'error'; the first few distinct reasons are kept
        const cause = (error as { cause?: unknown }).cause;
        if (errors.size < 5) errors.add(`${String(error)}${cause ? ` (${String(cause)})` : ''} after ${Math.round(performance.now() - t0)} ms`);
      }
      statuses[status] = (statuses[status] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: clients }, loop));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { seconds, latencies, statuses, answers, errors: [...errors] };
}

export async function runLoad(url: string, clients: number, requests: number, photos: Photo[], fields: Record<string, string> = {}): Promise<LoadResult> {
  const bodies = await multipartBodies(photos, fields);
  const outcome = await closedLoop<{ timing?: { batch_size: number; preprocess_ms: number } }>(url, clients, requests, (i) => bodies[i % bodies.length]!);
  const timings = outcome.answers.flatMap((answer) => (answer.timing ? [answer.timing] : []));
  const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : undefined);
  return {
    clients,
    seconds: outcome.seconds,
    throughput: outcome.latencies.length / outcome.seconds,
    ok: summarize(outcome.latencies),
    statuses: outcome.statuses,
    meanBatchSize: mean(timings.map((t) => t.batch_size)),
    meanPreprocessMs: mean(timings.map((t) => t.preprocess_ms)),
  };
}

/** Polls `url` every `intervalMs` until stopped; returns the latencies of its answers. */
export function pollLatency(url: string, intervalMs: number): { stop(): Promise<LatencySummary & { failures: number }> } {
  const latencies: number[] = [];
  let failures = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const t0 = performance.now();
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.ok) latencies.push(performance.now() - t0);
        else failures++;
      } catch {
        failures++;
      }
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { ...summarize(latencies), failures };
    },
  };
}

/**
 * The same closed loop for JSON routes: `clients` loops post `bodyFor(i)` (the i-th request's
 * JSON text) until `requests` answers came back; also returns the parsed 200 answers in order of
 * arrival, for the caller's own per-route fields (`meanBatchSize`/`meanPreprocessMs` stay unset),
 * and the first few distinct reasons of requests that got no answer.
 */
export async function runJsonLoad<Answer = unknown>(
  url: string,
  clients: number,
  requests: number,
  bodyFor: (i: number) => string,
): Promise<LoadResult & { answers: Answer[]; errors: string[] }> {
  const outcome = await closedLoop<Answer>(url, clients, requests, (i) => ({ body: bodyFor(i), contentType: 'application/json' }));
  return {
    clients,
    seconds: outcome.seconds,
    throughput: outcome.latencies.length / outcome.seconds,
    ok: summarize(outcome.latencies),
    statuses: outcome.statuses,
    meanBatchSize: undefined,
    meanPreprocessMs: undefined,
    answers: outcome.answers,
    errors: outcome.errors,
  };
}
