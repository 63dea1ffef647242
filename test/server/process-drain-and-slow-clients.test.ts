/**
 * Graceful shutdown and slow clients against the real server process (signals, exit codes, raw
 * sockets): SIGTERM under load answers every accepted request (running, queued, still uploading)
 * and exits 0; the drain timeout answers what is left 503; slow heads and bodies get Node's 408
 * in our JSON shape within the configured time; one client's stalled uploads cannot take every
 * slot; Node's own 431 is JSON too. Every address is loopback.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import net from 'node:net';
import { describe, it } from 'node:test';
import { startServerProcess, type ServerProcess } from '../helpers/server-process.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { slowVitDir, tinyVitDir } from '../helpers/test-models.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 50 ms until it holds; throws after `ms`. */
async function waitUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

interface Started {
  server: ServerProcess;
  /** Resolves once the process exited and its stdout is fully read (every log line is in `logs`). */
  closed: Promise<void>;
}

async function start(args: string[], env: Record<string, string>): Promise<Started> {
  const server = await startServerProcess(args, env);
  const closed = new Promise<void>((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) resolve();
    else server.child.once('close', () => resolve());
  });
  return { server, closed };
}

function stop(server: ServerProcess | undefined): void {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.kill('SIGKILL');
}

async function metricsText(server: ServerProcess): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  return res.text();
}

function gauge(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const httpInFlight = (metrics: string) => gauge(metrics, 'mms_requests_in_flight', 'transport="http"');

function requestDoneLines(server: ServerProcess): Array<Record<string, unknown>> {
  return server.logs.filter((l) => l.msg === 'request done');
}

// ---------------------------------------------------------------------------------------------
// HTTP over raw sockets (so a test controls exactly which bytes are sent, and when).

interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A complete HTTP/1.1 response at the start of `data`, or undefined while it is incomplete. */
function parseResponse(data: Buffer, ended: boolean): ParsedResponse | undefined {
  const headEnd = data.indexOf('\r\n\r\n');
  if (headEnd < 0) return undefined;
  const [statusLine, ...headerLines] = data.subarray(0, headEnd).toString('latin1').split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine!)?.[1]);
  const headers: Record<string, string> = {};
  for (const line of headerLines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const rest = data.subarray(headEnd + 4);
  if (headers['content-length'] !== undefined) {
    const length = Number(headers['content-length']);
    if (rest.length < length) return undefined;
    return { status, headers, body: rest.subarray(0, length).toString('utf8') };
  }
  return ended ? { status, headers, body: rest.toString('utf8') } : undefined;
}

interface RawOutcome {
  /** The first complete response on the connection, if one arrived. */
  response?: ParsedResponse;
  /** A socket error (ECONNRESET...) seen before the response was complete. */
  error?: string;
  /** Milliseconds from connect to the complete response (or to the end of the connection). */
  ms: number;
}

interface RawClient {
  socket: net.Socket;
  /** Settles at the first complete response, or when the connection ends without one. */
  answer: Promise<RawOutcome>;
  /** Settles when the connection is closed (by either side), with ms since connect. */
  closed: Promise<number>;
  /** Whether a complete response has arrived so far. */
  answered(): boolean;
}

function rawClient(port: number, first: Buffer | string, options: { localAddress?: string } = {}): RawClient {
  const started = performance.now();
  const socket = net.connect({ host: '127.0.0.1', port, ...options });
  let data = Buffer.alloc(0);
  let settled: RawOutcome | undefined;
  let resolveAnswer!: (outcome: RawOutcome) => void;
  const answer = new Promise<RawOutcome>((resolve) => (resolveAnswer = resolve));
  const settle = (outcome: Omit<RawOutcome, 'ms'>) => {
    if (settled) return;
    settled = { ...outcome, ms: performance.now() - started };
    resolveAnswer(settled);
  };
  let socketError: string | undefined;
  socket.on('data', (chunk: Buffer) => {
    data = Buffer.concat([data, chunk]);
    const response = parseResponse(data, false);
    if (response) settle({ response });
  });
  socket.on('error', (error: NodeJS.ErrnoException) => {
    socketError = error.code ?? error.message;
    if (!settled) settle({ error: socketError });
  });
  const closed = new Promise<number>((resolve) =>
    socket.on('close', () => {
      const response = parseResponse(data, true);
      settle(response ? { response } : { error: socketError ?? `closed without a complete response (${data.length} bytes)` });
      resolve(performance.now() - started);
    }),
  );
  socket.write(first);
  return { socket, answer, closed, answered: () => settled?.response !== undefined };
}

function postHead(path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ Host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

// ---------------------------------------------------------------------------------------------
// Complete requests over node:http (a fresh connection each: agent false).

interface HttpOutcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  error?: string;
}

function post(
  url: string,
  headers: Record<string, string>,
  body: Buffer,
  options: { localAddress?: string } = {},
): Promise<HttpOutcome> {
  return new Promise((resolve) => {
    const req = http.request(
      `${url}/v1/classify`,
      { method: 'POST', agent: false, headers: { ...headers, 'content-length': String(body.length) }, ...options },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: text }));
        res.on('error', (error: NodeJS.ErrnoException) => resolve({ status: res.statusCode, error: error.code ?? error.message }));
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? error.message }));
    req.end(body);
  });
}

type BodyKind = 'json' | 'multipart' | 'raw';

function classifyBody(kind: BodyKind, png: Buffer): { headers: Record<string, string>; body: Buffer } {
  if (kind === 'json') {
    return { headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ image: png.toString('base64') })) };
  }
  if (kind === 'raw') return { headers: { 'content-type': 'image/png' }, body: png };
  const boundary = 'mms-test-boundary-7d1f';
  const body = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="chelsea.png"\r\nContent-Type: image/png\r\n\r\n`),
    png,
    Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="top_k"\r\n\r\n3\r\n--${boundary}--\r\n`),
  ]);
  return { headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body };
}

/** The server's JSON error shape, with the given code. */
function assertJsonError(body: string | undefined, code: string, context: string): void {
  let parsed: { error?: { code?: unknown; message?: unknown } };
  try {
    parsed = JSON.parse(body ?? '') as typeof parsed;
  } catch {
    assert.fail(`${context}: body is not JSON: ${JSON.stringify(body?.slice(0, 300))}`);
  }
  assert.equal(parsed.error?.code, code, `${context}: error code in ${body}`);
  assert.equal(typeof parsed.error?.message, 'string', `${context}: error message in ${body}`);
}

/** Resolves with the error code of a fresh TCP connection attempt, or 'connected'. */
function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}

// ---------------------------------------------------------------------------------------------

describe('the server process: graceful drain on SIGTERM', () => {
  it('answers every accepted request (running, queued, still uploading) and exits 0', async () => {
    let started: Started | undefined;
    const uploads: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await slowVitDir()}`, '--instances', '1', '--max-batch-size', '1'], {
        MMS_DRAIN_TIMEOUT_MS: '60000',
      });
      const { server, closed } = started;
      await withTimeout(server.ready(), 30_000, 'the slow model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));

      // 13 complete requests of the three body kinds, and 3 uploads that stop halfway through the body.
      const kinds: BodyKind[] = ['json', 'multipart', 'raw'];
      const complete = Array.from({ length: 13 }, (_, i) => {
        const { headers, body } = classifyBody(kinds[i % 3]!, png);
        return post(server.url, { ...headers, 'x-request-id': `complete-${i}` }, body);
      });
      const half = Math.floor(png.length / 2);
      for (let i = 0; i < 3; i++) {
        const head = postHead('/v1/classify?top_k=2', { 'Content-Type': 'image/png', 'Content-Length': png.length, 'X-Request-Id': `upload-${i}` });
        uploads.push(rawClient(server.httpPort, Buffer.concat([Buffer.from(head), png.subarray(0, half)])));
      }

      // All 16 admitted, one running and several queued.
      let last = '';
      await waitUntil(
        async () => {
          last = await metricsText(server);
          return httpInFlight(last) === 16 && gauge(last, 'mms_queue_depth', 'model="vit"') >= 3;
        },
        20_000,
        '16 requests in flight with at least 3 queued',
      ).catch((error: Error) => {
        throw new Error(`${error.message}; in flight ${httpInFlight(last)}, queued ${gauge(last, 'mms_queue_depth', 'model="vit"')}`);
      });
      const queuedAtSigterm = gauge(last, 'mms_queue_depth', 'model="vit"');

      const sigtermAt = performance.now();
      server.kill('SIGTERM');
      await waitUntil(() => server.logs.some((l) => l.msg === 'shutting down'), 5000, "the 'shutting down' log line");
      // The listener is closed: a new connection is refused (a few tries: the close is asynchronous).
      let connect = '';
      await waitUntil(
        async () => (connect = await tryConnect(server.httpPort)) === 'ECONNREFUSED',
        1000,
        'new connections to be refused',
      ).catch(() => assert.fail(`a new connection after SIGTERM was not refused: ${connect}`));

      // The uploads finish their bodies ~300 ms after the SIGTERM.
      await sleep(Math.max(0, 300 - (performance.now() - sigtermAt)));
      for (const upload of uploads) upload.socket.write(png.subarray(half));

      const answers = await withTimeout(Promise.all(complete), 45_000, 'the complete requests to be answered');
      const uploadAnswers = await withTimeout(Promise.all(uploads.map((u) => u.answer)), 45_000, 'the uploads to be answered');
      const exit = await withTimeout(server.exited, 30_000, 'the process to exit');
      await withTimeout(closed, 5000, 'the process stdout to close');

      answers.forEach((a, i) => {
        assert.equal(a.error, undefined, `complete-${i} (${kinds[i % 3]}) got no answer: ${a.error}`);
        if (a.status === 503) assertJsonError(a.body, 'not_ready', `complete-${i}`);
        // The drain timeout (60 s) is far longer than the work (16 × ~0.6 s): every one is served.
        assert.equal(a.status, 200, `complete-${i} (${kinds[i % 3]}): ${a.status} ${a.body?.slice(0, 300)}`);
        assert.equal((JSON.parse(a.body!) as { model: string }).model, 'vit');
      });
      uploadAnswers.forEach((a, i) => {
        assert.equal(a.error, undefined, `upload-${i} got no complete answer: ${a.error}`);
        if (a.response!.status === 503) assertJsonError(a.response!.body, 'not_ready', `upload-${i}`);
        assert.equal(a.response!.status, 200, `upload-${i}: ${a.response!.status} ${a.response!.body.slice(0, 300)}`);
        assert.equal((JSON.parse(a.response!.body) as { predictions: unknown[] }).predictions.length, 2);
      });
      assert.deepEqual(exit, { code: 0, signal: null }, 'the process exits 0 after the drain');

      const done = requestDoneLines(server).filter((l) => l.path === '/v1/classify');
      const cancelledOk = done.filter((l) => l.status === 200 && l.code === 'cancelled');
      assert.deepEqual(cancelledOk, [], "no 'request done' line says status 200 with code cancelled");
      assert.equal(done.length, 16, `one 'request done' line per request: ${JSON.stringify(done)}`);
      assert.deepEqual(server.logs.filter((l) => (l.level as number) >= 50), [], 'no error-level log lines');
      for (const line of done) assert.deepEqual([line.status, line.code], [200, 'ok'], `log line ${JSON.stringify(line)}`);
      assert.ok(queuedAtSigterm >= 3);
    } finally {
      for (const upload of uploads) upload.socket.destroy();
      stop(started?.server);
    }
  });

  it('answers a request whose body never finishes 503 at the drain timeout, and exits 0 promptly', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await slowVitDir()}`, '--instances', '1', '--max-batch-size', '1'], {
        MMS_DRAIN_TIMEOUT_MS: '500',
      });
      const { server, closed } = started;
      await withTimeout(server.ready(), 30_000, 'the slow model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));

      // A few complete requests (one running, the rest queued) and one upload that stalls for good.
      const complete = Array.from({ length: 4 }, (_, i) => {
        const { headers, body } = classifyBody('json', png);
        return post(server.url, { ...headers, 'x-request-id': `complete-${i}` }, body);
      });
      const stalled = rawClient(
        server.httpPort,
        postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': 'stalled' }) + '0123456789',
      );
      clients.push(stalled);
      await waitUntil(async () => httpInFlight(await metricsText(server)) === 5, 15_000, '5 requests in flight');

      const sigtermAt = performance.now();
      server.kill('SIGTERM');
      const stalledAnswer = await withTimeout(stalled.answer, 10_000, 'the stalled upload to be answered');
      const answeredAfterMs = performance.now() - sigtermAt;
      const exit = await withTimeout(server.exited, 10_000, 'the process to exit');
      const exitedAfterMs = performance.now() - sigtermAt;
      const answers = await withTimeout(Promise.all(complete), 5000, 'the complete requests to be answered');
      await withTimeout(closed, 5000, 'the process stdout to close');

      assert.equal(stalledAnswer.error, undefined, `the stalled upload got no complete answer: ${stalledAnswer.error}`);
      assert.equal(stalledAnswer.response!.status, 503, `stalled upload: ${JSON.stringify(stalledAnswer.response)}`);
      assertJsonError(stalledAnswer.response!.body, 'not_ready', 'stalled upload');
      assert.ok(answeredAfterMs < 3000, `answered ${Math.round(answeredAfterMs)} ms after SIGTERM (drain timeout 500 ms)`);
      answers.forEach((a, i) => {
        assert.equal(a.error, undefined, `complete-${i} got no answer: ${a.error}`);
        assert.ok(a.status === 200 || a.status === 503, `complete-${i}: ${a.status} ${a.body?.slice(0, 300)}`);
        if (a.status === 503) assertJsonError(a.body, 'not_ready', `complete-${i}`);
      });
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(exitedAfterMs < 5000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM (drain timeout 500 ms)`);
      assert.ok(
        server.logs.some((l) => l.msg === 'drain timed out; answering the rest 503'),
        'the drain timeout is logged',
      );
      const stalledLine = requestDoneLines(server).find((l) => l.request_id === 'stalled');
      assert.deepEqual([stalledLine?.status, stalledLine?.code], [503, 'not_ready'], `log line ${JSON.stringify(stalledLine)}`);
      // A request answered 503 while its batch was still running must not log an error when the
      // batch finishes afterwards (it was answered; there is nothing left to send).
      const errors = server.logs.filter((l) => (l.level as number) >= 50);
      assert.deepEqual(errors, [], `error-level log lines at shutdown (503 answers: ${answers.filter((a) => a.status === 503).length} of 4)`);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });
});

describe('the server process: slow and oversized clients', () => {
  it('answers a head that stalls 408 JSON and closes the connection within ~3 s', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_HEADERS_TIMEOUT_MS: '1000' });
      const { server } = started;
      const slow = rawClient(server.httpPort, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      clients.push(slow);
      const outcome = await withTimeout(slow.answer, 10_000, 'an answer to the stalled head');
      const closedAfter = await withTimeout(slow.closed, 10_000, 'the server to close the connection');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 408, JSON.stringify(outcome.response));
      assert.match(outcome.response!.headers['content-type'] ?? '', /^application\/json/);
      assertJsonError(outcome.response!.body, 'request_timeout', 'stalled head');
      assert.ok(closedAfter < 3000, `closed after ${Math.round(closedAfter)} ms (headers timeout 1000 ms)`);
      assert.ok(closedAfter >= 900, `closed after ${Math.round(closedAfter)} ms: before the headers timeout`);
      // The server is fine afterwards.
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it('answers a body that stalls 408 JSON within ~4 s and logs it as request_timeout', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_BODY_TIMEOUT_MS: '2000' });
      const { server } = started;
      await withTimeout(server.ready(), 30_000, 'the model to be ready');
      const slow = rawClient(
        server.httpPort,
        postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': 'slow-body' }) + '0123456789',
      );
      clients.push(slow);
      const outcome = await withTimeout(slow.answer, 15_000, 'an answer to the stalled body');
      const closedAfter = await withTimeout(slow.closed, 15_000, 'the server to close the connection');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 408, JSON.stringify(outcome.response));
      assertJsonError(outcome.response!.body, 'request_timeout', 'stalled body');
      assert.ok(closedAfter < 4000, `closed after ${Math.round(closedAfter)} ms (body timeout 2000 ms)`);
      assert.ok(closedAfter >= 1900, `closed after ${Math.round(closedAfter)} ms: before the body timeout`);

      await waitUntil(() => requestDoneLines(server).some((l) => l.request_id === 'slow-body'), 2000, "its 'request done' line");
      const line = requestDoneLines(server).find((l) => l.request_id === 'slow-body')!;
      assert.notEqual(line.status, 200, `log line ${JSON.stringify(line)}`);
      assert.deepEqual([line.status, line.code], [408, 'request_timeout'], `log line ${JSON.stringify(line)}`);
      assert.match(await metricsText(server), /^mms_requests_total\{model="unknown",task="image-classification",transport="http",code="request_timeout"\} 1$/m);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it("caps one client's requests in flight: its stalled uploads get 429, another loopback address is served", async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_MAX_IN_FLIGHT_PER_CLIENT: '4', MMS_MAX_IN_FLIGHT: '100' });
      const { server } = started;
      await withTimeout(server.ready(), 30_000, 'the model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));
      const stalledUpload = (i: number) =>
        rawClient(
          server.httpPort,
          postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': `upload-${i}` }) + '0123456789',
          { localAddress: '127.0.0.1' },
        );
      for (let i = 0; i < 10; i++) clients.push(stalledUpload(i));
      await waitUntil(() => clients.filter((c) => c.answered()).length >= 6, 5000, '6 of the 10 uploads to be refused');
      await sleep(200); // no more answers come: 4 stay admitted
      const refused = clients.filter((c) => c.answered());
      assert.equal(refused.length, 6, '4 admitted, 6 refused');
      for (const client of refused) {
        const { response } = await client.answer;
        assert.equal(response!.status, 429, JSON.stringify(response));
        assert.ok(Number(response!.headers['retry-after']) >= 1, `Retry-After: ${response!.headers['retry-after']}`);
        assertJsonError(response!.body, 'overloaded', 'refused upload');
        assert.match(JSON.parse(response!.body).error.message, /limit per client/);
      }
      assert.equal(httpInFlight(await metricsText(server)), 4);

      // Another client (another loopback address) is served meanwhile.
      const { headers, body } = classifyBody('json', png);
      const other = await post(server.url, headers, body, { localAddress: '127.0.0.2' });
      assert.equal(other.error, undefined, `127.0.0.2 got no answer: ${other.error}`);
      assert.equal(other.status, 200, `127.0.0.2: ${other.status} ${other.body?.slice(0, 300)}`);
      // 127.0.0.1 is still at its cap.
      const again = await post(server.url, headers, body, { localAddress: '127.0.0.1' });
      assert.equal(again.status, 429, `127.0.0.1 over its cap: ${again.status} ${again.body?.slice(0, 300)}`);

      // Once its stalled uploads go away, 127.0.0.1 is served again.
      for (const client of clients) client.socket.destroy();
      await waitUntil(async () => httpInFlight(await metricsText(server)) === 0, 5000, 'the stalled uploads to leave');
      const after = await post(server.url, headers, body, { localAddress: '127.0.0.1' });
      assert.equal(after.status, 200, `127.0.0.1 after its uploads left: ${after.status} ${after.body?.slice(0, 300)}`);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it("answers Node's own 431 (a 20 KB header line) with the JSON body", async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], {});
      const { server } = started;
      const big = rawClient(server.httpPort, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
      clients.push(big);
      const outcome = await withTimeout(big.answer, 10_000, 'an answer to the oversized head');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 431, JSON.stringify(outcome.response));
      assert.match(outcome.response!.headers['content-type'] ?? '', /^application\/json/);
      assertJsonError(outcome.response!.body, 'headers_too_large', 'oversized head');
      await withTimeout(big.closed, 5000, 'the server to close the connection');
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });
});
