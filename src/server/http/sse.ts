/**
 * Server-sent events for a streamed answer (`stream: true`): each partial result is a
 * `data: <json>` event as it is made; the whole answer closes the stream as `event: done`, or an
 * error that happens after the stream started as `event: error` with the usual
 * `{error: {code, message}}`. `curl -N` shows the events as they arrive.
 */
import type { Response } from 'express';
import type { ApiError } from '../../errors.js';

export class EventStream {
  constructor(private readonly res: Response) {}

  get started(): boolean {
    return this.res.headersSent;
  }

  /** A partial result; the first one sends the headers. */
  send(chunk: object, event?: string): void {
    if (this.res.writableEnded) return;
    if (!this.res.headersSent) {
      this.res.status(200).set({ 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', 'X-Accel-Buffering': 'no' });
      this.res.flushHeaders();
    }
    this.res.write(`${event ? `event: ${event}\n` : ''}data: ${JSON.stringify(chunk)}\n\n`);
  }

  /** The whole answer, and the end of the stream. */
  done(answer: object): void {
    this.send(answer, 'done');
    this.res.end();
  }

  /** An error after the stream started, and the end of it. */
  fail(error: ApiError): void {
    this.send(error.toJSON(), 'error');
    this.res.end();
  }
}

/** Whether the raw request asks for a stream (JSON `true`, a form field `true`). */
export function wantsStream(raw: unknown): boolean {
  const value = (raw as { stream?: unknown } | undefined)?.stream;
  return value === true || value === 'true';
}
