/**
 * The server-wide budget for decoded image bytes in flight. Each image takes its estimated peak
 * (preprocess-cost.ts) before it is decoded and gives it back when preprocessing ends, so memory
 * stays bounded however many large images arrive at once. Waiters are served in order (a large
 * image is not starved by small ones); one waits at most until its deadline or `maxWaitMs`.
 *
 * @example
 *   const budget = new PixelBudget({ capacityBytes: 2 ** 30, maxWaitMs: 10_000 });
 *   const release = await budget.acquire(196_000_000, { signal, deadlineMs });
 *   try { ... } finally { release(); }
 */
import os from 'node:os';
import { ApiError } from '../errors.js';
import type { MemoryBudget } from '../models/image/preprocess-pool.js';

export interface PixelBudgetOptions {
  capacityBytes: number;
  /** Longest wait for room before `overloaded`; the request's deadline can shorten it. */
  maxWaitMs: number;
  /** Called whenever the bytes in use or the number of waiters change (metrics). */
  onChange?: (state: { usedBytes: number; waiting: number }) => void;
}

interface Waiter {
  bytes: number;
  grant: () => void;
  fail: (error: ApiError) => void;
}

const MIB = 1024 * 1024;

/** An eighth of the machine's memory, between 256 MiB and 4 GiB. */
export function defaultPixelBudgetBytes(totalMemory = os.totalmem()): number {
  return Math.min(4096 * MIB, Math.max(256 * MIB, Math.floor(totalMemory / 8)));
}

export class PixelBudget implements MemoryBudget {
  private used = 0;
  private readonly waiters: Waiter[] = [];
  /** Mean time an image holds its share (seconds), for Retry-After. */
  private meanHoldSeconds = 0;

  constructor(private readonly options: PixelBudgetOptions) {}

  get usedBytes(): number {
    return this.used;
  }

  get waiting(): number {
    return this.waiters.length;
  }

  acquire(bytes: number, call: { signal?: AbortSignal; deadlineMs?: number } = {}): Promise<() => void> {
    const { capacityBytes } = this.options;
    if (bytes > capacityBytes) {
      return Promise.reject(
        new ApiError(
          'payload_too_large',
          `this image needs ~${Math.ceil(bytes / MIB)} MiB to preprocess, more than the server's whole image-memory budget of ${Math.floor(capacityBytes / MIB)} MiB`,
        ),
      );
    }
    if (this.waiters.length === 0 && this.used + bytes <= capacityBytes) return Promise.resolve(this.take(bytes));
    return new Promise((resolve, reject) => {
      const { signal, deadlineMs } = call;
      const waitUntil = Math.min(deadlineMs ?? Infinity, Date.now() + this.options.maxWaitMs);
      const byDeadline = deadlineMs !== undefined && deadlineMs <= Date.now() + this.options.maxWaitMs;
      const cleanup = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        this.changed();
      };
      const waiter: Waiter = {
        bytes,
        grant: () => {
          cleanup();
          resolve(this.take(bytes));
        },
        fail: (error) => {
          cleanup();
          reject(error);
          this.grantWaiters(); // the head may have been the one blocking smaller requests
        },
      };
      const onAbort = () => waiter.fail(new ApiError('cancelled', 'the request was cancelled'));
      const timer = setTimeout(
        () =>
          waiter.fail(
            byDeadline
              ? new ApiError('deadline_exceeded', 'deadline passed while waiting for image memory')
              : new ApiError('overloaded', 'the server is busy preprocessing other large images', { retryAfterSeconds: this.retryAfterSeconds() }),
          ),
        Math.max(0, waitUntil - Date.now()),
      );
      if (signal?.aborted) return onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
      this.changed();
    });
  }

  private take(bytes: number): () => void {
    this.used += bytes;
    this.changed();
    const started = performance.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.used -= bytes;
      const held = (performance.now() - started) / 1000;
      this.meanHoldSeconds = this.meanHoldSeconds === 0 ? held : 0.8 * this.meanHoldSeconds + 0.2 * held;
      this.changed();
      this.grantWaiters();
    };
  }

  /** Grants waiters in order while the head fits. */
  private grantWaiters(): void {
    while (this.waiters.length > 0 && this.used + this.waiters[0]!.bytes <= this.options.capacityBytes) this.waiters[0]!.grant();
  }

  /** How long until the waiting images have gone through, from the mean hold time. */
  private retryAfterSeconds(): number {
    const queued = this.waiters.reduce((sum, w) => sum + w.bytes, 0);
    const rounds = 1 + queued / this.options.capacityBytes;
    return Math.max(1, Math.ceil(rounds * this.meanHoldSeconds));
  }

  private changed(): void {
    this.options.onChange?.({ usedBytes: this.used, waiting: this.waiters.length });
  }
}
