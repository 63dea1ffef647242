/**
 * Clients for tests against the real server process: raw sockets (a test controls which bytes
 * go out, and when), plain node:http requests on fresh connections, and small waits and asserts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { startServerProcess, type ServerProcess } from './server-process.js';

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Polls `condition` every 50 ms until it holds; throws after `ms`. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(50);
  }
}

export interface Started {
  server: ServerProcess;
  /** Resolves once the process exited and its stdout is fully read (every log line is in `logs`). */
  closed: Promise<void>;
}

export async function start(args: string[], env: Record<string, string>): Promise<Started> {
  const server = await startServerProcess(args, env);
  const closed = new Promise<void>((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) resolve();
    else server.child.once('close', () => resolve());
  });
  return { server, closed };
}

export function stop(server: ServerProcess | undefined): void {
  if (server && server.child.exitCode === null && server.child.signalCode === null) server.kill('SIGKILL');
}

export async function metricsText(server: ServerProcess): Promise<string> {
  const res = await fetch(`${server.url}/metrics`);
  return res.text();
}

export function gauge(metrics: string, name: string, labels: string): number {
  const line = metrics.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

export const httpInFlight = (metrics: string) => gauge(metrics, 'mms_requests_in_flight', 'transport="http"');

export function requestDoneLines(server: ServerProcess): Array<Record<string, unknown>> {
  return server.logs.filter((l) => l.msg === 'request done');
}

// HTTP over raw sockets (so a test controls exactly which bytes are sent, and when).

export interface ParsedResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** A complete HTTP/1.1 response at the start of `data`, or undefined while it is incomplete. */
export function parseResponse(data: Buffer, ended: boolean): ParsedResponse | undefined {
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

export interface RawOutcome {
  /** The first complete response on the connection, if one arrived. */
  response?: ParsedResponse;
  /** A socket error (ECONNRESET...) seen before the response was complete. */
  error?: string;
  /** Milliseconds from connect to the complete response (or to the end of the connection). */
  ms: number;
}

export interface RawClient {
  socket: net.Socket;
  /** Settles at the first complete response, or when the connection ends without one. */
  answer: Promise<RawOutcome>;
  /** Settles when the connection is closed (by either side), with ms since connect. */
  closed: Promise<number>;
  /** Whether a complete response has arrived so far. */
  answered(): boolean;
}

export function rawClient(port: number, first: Buffer | string, options: { localAddress?: string } = {}): RawClient {
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

export function postHead(path: string, headers: Record<string, string | number>): string {
  const lines = Object.entries({ Host: '127.0.0.1', ...headers }).map(([k, v]) => `${k}: ${v}`);
  return `POST ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

// Complete requests over node:http (a fresh connection each: agent false).

export interface HttpOutcome {
  status?: number;
  headers?: http.IncomingHttpHeaders;
  body?: string;
  error?: string;
}

export function post(
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

export type BodyKind = 'json' | 'multipart' | 'raw';

export function classifyBody(kind: BodyKind, png: Buffer): { headers: Record<string, string>; body: Buffer } {
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
export function assertJsonError(body: string | undefined, code: string, context: string): void {
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
export function tryConnect(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
}
