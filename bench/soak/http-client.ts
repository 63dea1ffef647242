/**
 * One HTTP request of the soak over a shared keep-alive agent (node:http: the client shares the
 * server's cores, and fetch costs it several CPU-ms per request), with the soak's own deadline and
 * its deliberate aborts: halfway through the upload, or once the first streamed event arrived.
 */
import http from 'node:http';

export interface HttpTarget {
  port: number;
  agent: http.Agent;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  headers?: Record<string, string>;
  body?: Uint8Array | string;
  /**
   * A client that goes away: after half its body, after the first server-sent event, or a
   * moment after the whole request was sent (while it is queued or running).
   */
  abort?: 'mid-upload' | 'first-event' | 'after-send';
}

export type HttpResult =
  | { kind: 'answered'; status: number; contentType: string; body: Buffer }
  | { kind: 'aborted' }
  | { kind: 'timeout' }
  | { kind: 'transport'; error: string };

/** No answer within this long is a timeout (the definition of unanswered). */
export const ANSWER_TIMEOUT_MS = 60_000;

export function newHttpTarget(port: number, concurrency: number): HttpTarget {
  // `timeout` lets the agent honour the server's Keep-Alive hint (it only ever lowers this), so
  // an idle socket is dropped before the server closes it, not reused into an ECONNRESET.
  return { port, agent: new http.Agent({ keepAlive: true, maxSockets: concurrency * 2, timeout: 2 * ANSWER_TIMEOUT_MS }) };
}

export function httpCall(target: HttpTarget, call: HttpCall, timeoutMs = ANSWER_TIMEOUT_MS): Promise<HttpResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: HttpResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const body = typeof call.body === 'string' ? Buffer.from(call.body) : call.body;
    const headers = { ...call.headers, ...(body ? { 'content-length': String(body.byteLength) } : {}) };
    const req = http.request({ host: '127.0.0.1', port: target.port, method: call.method, path: call.path, agent: target.agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // The stream is cut at its first event, so the buffer searched stays small.
        if (call.abort === 'first-event' && res.statusCode === 200 && Buffer.concat(chunks).includes('\n\n')) {
          settle({ kind: 'aborted' });
          req.destroy();
        }
      });
      res.on('end', () => settle({ kind: 'answered', status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: Buffer.concat(chunks) }));
      res.on('error', (error) => settle({ kind: 'transport', error: `response: ${error.message}` }));
      res.on('close', () => settle({ kind: 'transport', error: 'response closed before its end' }));
    });
    req.on('error', (error) => settle({ kind: 'transport', error: error.message }));
    const timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      req.destroy();
    }, timeoutMs);
    const vanishAfter = (ms: number) =>
      setTimeout(() => {
        settle({ kind: 'aborted' });
        req.destroy();
      }, ms);
    if (call.abort === 'mid-upload' && body) {
      req.write(body.subarray(0, body.byteLength >> 1));
      vanishAfter(20); // long enough for the server to start reading the body
    } else {
      req.end(body);
      if (call.abort === 'after-send') vanishAfter(10 + Math.random() * 150);
    }
  });
}

/** A multipart/form-data body: text fields, then image files (the field order the server reads). */
export function multipartBody(fields: readonly (readonly [string, string])[], files: readonly { field: string; filename: string; type: string; bytes: Uint8Array }[]): { body: Buffer; contentType: string } {
  const boundary = `soak${Math.random().toString(36).slice(2)}${Date.now().toString(36)}`;
  const parts: Buffer[] = [];
  for (const [name, value] of fields) parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`));
  for (const file of files) {
    parts.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${file.field}"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`));
    parts.push(Buffer.from(file.bytes.buffer, file.bytes.byteOffset, file.bytes.byteLength), Buffer.from('\r\n'));
  }
  parts.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(parts), contentType: `multipart/form-data; boundary=${boundary}` };
}
