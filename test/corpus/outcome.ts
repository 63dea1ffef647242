/**
 * Sending one corpus case over HTTP or gRPC and reading what came back, as an `Outcome` the
 * tally and the assertions share. Nothing here interprets an answer beyond the error table.
 */
import * as grpc from '@grpc/grpc-js';
import http2 from 'node:http2';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

export type Transport = 'http' | 'grpc';

export interface Outcome {
  /** `ok`, a code of the error table, or what went wrong outside it. */
  readonly result: 'ok' | ErrorCode | 'unanswered' | 'bad_error_shape' | 'connection_error';
  /** HTTP status or gRPC status name, for messages. */
  readonly status: string;
  readonly detail: string;
}

export interface HttpRequestSpec {
  readonly method: string;
  readonly path: string;
  readonly headers?: Record<string, string>;
  readonly body?: string | Uint8Array | FormData;
}

export interface GrpcCallSpec {
  readonly method: string;
  readonly message?: unknown;
  /** Bytes sent as the serialized message, bypassing the client's encoder (malformed frames). */
  readonly raw?: Buffer;
  readonly streaming?: boolean;
}

/** A POST of JSON text as it is (malformed on purpose, or not UTF-8). */
export const postJsonText = (path: string, text: string | Uint8Array): HttpRequestSpec => ({ method: 'POST', path, headers: { 'content-type': 'application/json' }, body: text });

/** A POST of `body` as JSON. */
export const postJson = (path: string, body: unknown) => postJsonText(path, JSON.stringify(body));

/** Longest a case may take before it counts as unanswered. */
export const ANSWER_TIMEOUT_MS = 30_000;

const codeOf = (status: number) => (Object.entries(ERROR_CODES).find(([, row]) => row.http === status)?.[0] ?? 'internal') as ErrorCode;

export async function sendHttp(base: string, spec: HttpRequestSpec): Promise<Outcome> {
  let response: Response;
  let text: string;
  try {
    response = await fetch(base + spec.path, { method: spec.method, headers: spec.headers, body: spec.body as BodyInit | undefined, signal: AbortSignal.timeout(ANSWER_TIMEOUT_MS) });
    text = await response.text();
  } catch (error) {
    const name = (error as Error).name;
    return { result: name === 'TimeoutError' ? 'unanswered' : 'connection_error', status: name, detail: String((error as Error).cause ?? error) };
  }
  const status = String(response.status);
  if (response.ok) {
    // A stream that failed after its headers ends with an error event: that is its answer.
    const streamedError = /^event: error\ndata: (.*)$/m.exec(text) ?? /^data: (\{"error".*)$/m.exec(text);
    if (streamedError) return errorOutcome(status, streamedError[1]!);
    return { result: 'ok', status, detail: text.slice(0, 200) };
  }
  const outcome = errorOutcome(status, text);
  if (outcome.result !== 'bad_error_shape' && ERROR_CODES[outcome.result as ErrorCode].http !== response.status) {
    return { result: 'bad_error_shape', status, detail: `code ${outcome.result} with HTTP ${status}` };
  }
  return outcome;
}

function errorOutcome(status: string, body: string): Outcome {
  try {
    const { error } = JSON.parse(body) as { error?: { code?: string; message?: string } };
    if (error && typeof error.message === 'string' && typeof error.code === 'string' && error.code in ERROR_CODES) {
      return { result: error.code as ErrorCode, status, detail: error.message };
    }
  } catch {
    // not JSON
  }
  return { result: Number(status) >= 400 ? 'bad_error_shape' : codeOf(Number(status)), status, detail: body.slice(0, 200) };
}

const passThrough = (bytes: Buffer) => bytes;

/**
 * One call on `client` (a grpc-js client of the inference service). With `raw`, the bytes go on
 * the wire as the message; otherwise the client's own serializer encodes `message`.
 */
export function sendGrpc(client: grpc.Client & Record<string, Function>, spec: GrpcCallSpec): Promise<Outcome> {
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  return new Promise((resolve) => {
    const finish = (error: grpc.ServiceError | null) => {
      if (!error) return resolve({ result: 'ok', status: 'OK', detail: '' });
      const statusName = grpc.status[error.code] ?? String(error.code);
      if (error.code === grpc.status.DEADLINE_EXCEEDED && !error.metadata?.get('error-code').length) {
        return resolve({ result: 'unanswered', status: statusName, detail: error.details });
      }
      // grpc-js refuses a message over the size limit itself: the table's status, without our metadata.
      const code = error.metadata?.get('error-code')[0] ?? (error.code === grpc.status.RESOURCE_EXHAUSTED ? 'payload_too_large' : undefined);
      if (typeof code !== 'string' || !(code in ERROR_CODES) || ERROR_CODES[code as ErrorCode].grpc !== statusName) {
        return resolve({ result: 'bad_error_shape', status: statusName, detail: `${error.details} (error-code ${String(code)})` });
      }
      resolve({ result: code as ErrorCode, status: statusName, detail: error.details });
    };
    const path = `/multimodal.v1.InferenceService/${spec.method}`;
    const options = { deadline };
    if (spec.streaming) {
      const call = spec.raw
        ? client.makeServerStreamRequest(path, passThrough, passThrough, spec.raw, new grpc.Metadata(), options)
        : (client[spec.method]!.call(client, spec.message, new grpc.Metadata(), options) as grpc.ClientReadableStream<unknown>);
      call.on('data', () => {});
      call.on('error', (error: grpc.ServiceError) => finish(error));
      call.on('end', () => finish(null));
    } else if (spec.raw) {
      client.makeUnaryRequest(path, passThrough, passThrough, spec.raw, new grpc.Metadata(), options, (error) => finish(error as grpc.ServiceError | null));
    } else {
      client[spec.method]!.call(client, spec.message, new grpc.Metadata(), options, (error: grpc.ServiceError | null) => finish(error));
    }
  });
}

/** How a raw gRPC call's status (trailers, or trailers-only headers) reads as an outcome. */
function grpcStatusOutcome(fields: http2.IncomingHttpHeaders): Outcome {
  const code = Number(fields['grpc-status']);
  const statusName = grpc.status[code] ?? String(code);
  const details = decodeURIComponent(String(fields['grpc-message'] ?? ''));
  if (code === grpc.status.OK) return { result: 'ok', status: statusName, detail: details };
  const errorCode = fields['error-code'];
  if (typeof errorCode !== 'string' || !(errorCode in ERROR_CODES) || ERROR_CODES[errorCode as ErrorCode].grpc !== statusName) {
    return { result: 'bad_error_shape', status: statusName, detail: `${details} (error-code ${String(errorCode)})` };
  }
  return { result: errorCode as ErrorCode, status: statusName, detail: details };
}

/**
 * A gRPC call written by hand over HTTP/2: `body` is sent as it is, length prefixes included, so a
 * case can cut a frame, send none or send two (what no gRPC client library would do).
 */
export function sendGrpcFrames(port: number, method: string, body: Buffer, headers: Record<string, string> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    const finish = (outcome: Outcome) => {
      clearTimeout(timer);
      session.close();
      resolve(outcome);
    };
    const timer = setTimeout(() => finish({ result: 'unanswered', status: 'timeout', detail: '' }), ANSWER_TIMEOUT_MS);
    session.on('error', (error) => finish({ result: 'connection_error', status: 'error', detail: String(error) }));
    const stream = session.request({ ':method': 'POST', ':path': `/multimodal.v1.InferenceService/${method}`, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    let head: http2.IncomingHttpHeaders = {};
    stream.on('response', (fields) => (head = fields));
    stream.on('trailers', (fields) => finish(grpcStatusOutcome(fields)));
    stream.on('data', () => {});
    // A trailers-only answer carries the status in its headers.
    stream.on('end', () => finish(grpcStatusOutcome(head)));
    stream.on('error', (error) => finish({ result: 'connection_error', status: 'error', detail: String(error) }));
    stream.end(body);
  });
}
