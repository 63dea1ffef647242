/**
 * Sending one fuzzed HTTP case and judging its answer: never a 5xx (a 504 only for a request that
 * set its own `timeout_ms`), every error `{error: {code, message}}` with a code of the error table
 * and that code's status, a 2xx JSON answer that parses, and an event stream whose error events
 * are table errors and whose last event is `done`, `[DONE]` or an error.
 */
import assert from 'node:assert/strict';
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

/** Longer than any fuzzed request needs; a request still open then counts as a hang. */
export const REQUEST_TIMEOUT_MS = 30_000;

export interface HttpCase {
  path: string;
  query: string;
  headers: Record<string, string>;
  body: Uint8Array;
  /** The request set its own `timeout_ms`: a 504 is then its answer, not a failure. */
  asksDeadline: boolean;
}

interface HttpAnswer {
  status: number;
  type: string;
  text: string;
}

function assertErrorBody(body: unknown, status: number | undefined, deadlineAsked: boolean): void {
  const error = (body as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  assert.ok(error && typeof error.code === 'string' && typeof error.message === 'string', `not the error shape: ${JSON.stringify(body)?.slice(0, 300)}`);
  assert.ok(Object.hasOwn(ERROR_CODES, error.code), `code '${error.code}' is not in the error table`);
  const code = error.code as ErrorCode;
  if (status !== undefined) assert.equal(status, ERROR_CODES[code].http, `'${code}' answered with HTTP ${status}`);
  assert.ok(ERROR_CODES[code].http < 500 || (code === 'deadline_exceeded' && deadlineAsked), `${code}: ${String(error.message)}`);
}

/** Server-sent events: each error event is a table error, and the stream ends with done, [DONE] or an error. */
function assertEventStream(text: string, deadlineAsked: boolean): void {
  const events = text
    .split('\n\n')
    .filter((block) => block.trim() !== '')
    .map((block) => {
      const lines = block.split('\n');
      return { event: lines.find((l) => l.startsWith('event: '))?.slice(7), data: lines.filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n') };
    });
  assert.ok(events.length > 0, 'an empty event stream');
  const isError = (e: { event?: string; data: string }) => e.event === 'error' || (e.data !== '[DONE]' && (JSON.parse(e.data) as { error?: unknown }).error !== undefined);
  for (const event of events) if (isError(event)) assertErrorBody(JSON.parse(event.data), undefined, deadlineAsked);
  const last = events.at(-1)!;
  assert.ok(last.event === 'done' || last.data === '[DONE]' || isError(last), `the stream ended without its last event: ${text.slice(-300)}`);
}

export async function send(base: string, c: HttpCase): Promise<HttpAnswer> {
  const response = await fetch(`${base}${c.path}${c.query}`, {
    method: 'POST',
    headers: c.headers,
    body: new Uint8Array(c.body), // a copy on its own ArrayBuffer, as fetch types a body
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
  });
  return { status: response.status, type: response.headers.get('content-type') ?? '', text: await response.text() };
}

export function assertAnswer(c: HttpCase, answer: HttpAnswer): void {
  if (answer.status >= 200 && answer.status < 300) {
    if (answer.type.startsWith('text/event-stream')) assertEventStream(answer.text, c.asksDeadline);
    else if (answer.type.startsWith('application/json')) JSON.parse(answer.text);
    return;
  }
  assert.ok(answer.type.startsWith('application/json'), `HTTP ${answer.status} as ${answer.type}: ${answer.text.slice(0, 300)}`);
  assertErrorBody(JSON.parse(answer.text), answer.status, c.asksDeadline);
}
