/**
 * Server-sent events for a streamed answer (`stream: true`): each partial result is a
 * `data: <json>` event as it is made; the whole answer closes the stream as `event: done`, or an
 * error that happens after the stream started as `event: error` with the usual
 * `{error: {code, message}}`. OpenAI's framing (chat completions) ends with `data: [DONE]`
 * instead, and sends a late error as a `data:` event (what OpenAI clients read). `curl -N` shows
 * the events as they arrive.
 */
import type { Response } from 'express';
import type { ApiError } from '../../errors.js';

export class EventStream {
  constructor(
    private readonly res: Response,
    private readonly framing: 'events' | 'openai' = 'events',
  ) {
    // An answer sent from outside the route (a shutdown's 503) ends the stream in its framing.
    res.locals.eventStream = this;
  }

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

  /** The whole answer (OpenAI: only `[DONE]`, the chunks said it all), and the end of the stream. */
  done(answer: object): void {
    if (this.framing === 'openai') {
      if (!this.res.writableEnded) this.res.end('data: [DONE]\n\n');
      return;
    }
    this.send(answer, 'done');
    this.res.end();
  }

  /** An error after the stream started, and the end of it. */
  fail(error: ApiError): void {
    if (this.res.writableEnded) return;
    this.send(error.toJSON(), this.framing === 'openai' ? undefined : 'error');
    this.res.end();
  }
}

/** Whether the raw request asks for a stream (JSON `true`, a form field `true`). */
export function wantsStream(raw: unknown): boolean {
  const value = (raw as { stream?: unknown } | undefined)?.stream;
  return value === true || value === 'true';
}
