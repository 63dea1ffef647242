/**
 * One accepted request inside the batcher: its promise callbacks, its deadline timer and abort
 * listener, and which batch runs it. It is answered exactly once, and answering it releases the
 * timer and the listener, so nothing leaks whatever way it ends.
 */
import { toApiError, type ApiError } from '../errors.js';
import type { ItemOutcome } from './batch-isolation.js';
import { MAX_TIMER_MS, type Clock, type TimerHandle } from './clock.js';

/** A batch handed to an instance; `live` counts its items still waiting for an answer. */
export interface InFlightBatch {
  live: number;
  controller: AbortController;
  /** Whether it carries the half-open health probe. */
  probe: boolean;
}

export type GoneReason = 'cancelled' | 'deadline';

export class PendingItem<I, R> {
  state: 'queued' | 'running' | 'done' = 'queued';
  batch: InFlightBatch | undefined;
  private timer: TimerHandle | undefined;
  private signal: AbortSignal | undefined;
  private onAbort: (() => void) | undefined;

  constructor(
    readonly item: I,
    readonly enqueuedAt: number,
    private readonly clock: Clock,
    private readonly resolve: (value: R) => void,
    private readonly reject: (error: ApiError) => void,
  ) {}

  /** Calls `onGone` once when the signal aborts or the deadline (on `clock.now()`) passes. */
  watch(signal: AbortSignal | undefined, deadlineMs: number | undefined, onGone: (reason: GoneReason) => void): void {
    if (signal) {
      this.signal = signal;
      this.onAbort = () => onGone('cancelled');
      signal.addEventListener('abort', this.onAbort, { once: true });
    }
    if (deadlineMs !== undefined && Number.isFinite(deadlineMs)) this.armDeadline(deadlineMs, onGone);
  }

  /** Answers the request unless it already was; returns whether this call answered it. */
  settle(outcome: ItemOutcome<R>): boolean {
    if (this.state === 'done') return false;
    if (this.state === 'running' && this.batch) this.batch.live -= 1;
    this.state = 'done';
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    if (this.onAbort) this.signal?.removeEventListener('abort', this.onAbort);
    this.timer = this.signal = this.onAbort = undefined;
    if (outcome.ok) this.resolve(outcome.value);
    else this.reject(toApiError(outcome.error));
    return true;
  }

  private armDeadline(deadlineMs: number, onGone: (reason: GoneReason) => void): void {
    const wait = Math.min(deadlineMs - this.clock.now(), MAX_TIMER_MS);
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      if (this.clock.now() < deadlineMs) this.armDeadline(deadlineMs, onGone); // a wait longer than one timer
      else onGone('deadline');
    }, wait);
  }
}
