/**
 * Dynamic batcher (Triton style): the one queue in front of one served model, feeding
 * `concurrency` instances. It knows nothing of HTTP, gRPC or ONNX: it calls an injected
 * `runBatch` and reports through callbacks (docs/architecture.md, "The batcher").
 *
 * - An idle instance takes what is queued at once, up to `maxBatchSize`; while all instances are
 *   busy requests accumulate and the next free one takes up to `maxBatchSize` in FIFO order.
 *   With `maxQueueDelayMs > 0` an idle instance waits until the OLDEST waiting request has waited
 *   that long, or until a full batch is there.
 * - A full queue rejects at once (`overloaded` + retry-after); deadlines and aborts drop items,
 *   queued or in flight; a batch whose run throws is bisected so good items still get answers;
 *   K consecutive batches with nothing answered mark the model unhealthy (`not_ready`) until a
 *   probe request succeeds after `unhealthyCooldownMs`.
 *
 * @example
 *   import { Batcher } from './batcher.js';
 *   const batcher = new Batcher<number, number>({
 *     maxBatchSize: 8, maxQueueSize: 64, maxQueueDelayMs: 2,
 *     runBatch: async (xs) => xs.map((x) => (x < 0 ? new Error('negative') : x * 2)),
 *   });
 *   console.log(await Promise.all([batcher.submit(1), batcher.submit(2)])); // [2, 4]
 *   await batcher.submit(3, { signal: AbortSignal.timeout(1000), deadlineMs: Date.now() + 500 });
 *   batcher.close(); // queued work gets not_ready; in-flight batches finish
 */
import { ApiError } from '../errors.js';
import { runIsolated, type ItemOutcome } from './batch-isolation.js';
import type { InstanceSlots } from './instance-slots.js';
import { realClock, type Clock, type TimerHandle } from './clock.js';
import { HealthGate } from './health-gate.js';
import { PendingItem, type GoneReason, type InFlightBatch } from './pending-item.js';

/** Runs one batch; resolves one entry per item in order, an `Error` entry failing that item alone. */
export type RunBatch<I, R> = (items: readonly I[], signal: AbortSignal) => Promise<ReadonlyArray<R | Error>>;

/**
 * Callbacks, called synchronously; they must not throw. `onReject('unhealthy')` also counts queued
 * items refused when the model turns unhealthy; `onDrop` also counts submits refused because the
 * signal had already aborted or the deadline had already passed (stage 'queued').
 */
export interface BatcherEvents {
  onQueueDepth?(depth: number): void;
  onBatchStart?(info: { size: number; queueWaitSeconds: number[] }): void;
  /** `ok`: the first run answered every item without throwing; `runs` counts isolation re-runs too. */
  onBatchEnd?(info: { size: number; durationSeconds: number; ok: boolean; runs: number }): void;
  onReject?(reason: 'queue_full' | 'unhealthy'): void;
  onDrop?(reason: 'cancelled' | 'deadline', stage: 'queued' | 'running'): void;
  onHealthChange?(healthy: boolean): void;
}

export interface BatcherOptions<I, R> {
  runBatch: RunBatch<I, R>;
  maxBatchSize: number;
  /** Waiting items (in-flight ones not counted) past which submit rejects `overloaded`; ≥ 1. */
  maxQueueSize: number;
  maxQueueDelayMs?: number; // default 0
  concurrency?: number; // instances = most batches in flight; default 1
  /**
   * Instances shared with other batchers (the components of one model on one pool): a batch
   * starts only when one is free. Replaces `concurrency`.
   */
  slots?: InstanceSlots;
  maxConsecutiveFailures?: number; // K, default 3; Infinity never marks unhealthy
  unhealthyCooldownMs?: number; // default 5000
  /** Re-runs allowed to isolate failing items in one batch; default 2·⌈log2 maxBatchSize⌉. */
  maxIsolationReruns?: number;
  /**
   * An input the batcher submits by itself as the probe when an unhealthy model's cooldown ends,
   * so health comes back without user traffic (a load balancer stops sending any once readiness
   * says no). Without it, the next real request is the probe.
   */
  probeItem?: () => I;
  clock?: Clock;
  events?: BatcherEvents;
}

export interface SubmitOptions {
  signal?: AbortSignal;
  /** Absolute, on `clock.now()` (wall-clock ms by default: `Date.now() + timeoutMs`). */
  deadlineMs?: number;
}

export class Batcher<I, R> {
  private readonly run: RunBatch<I, R>;
  private readonly maxBatchSize: number;
  private readonly maxQueueSize: number;
  private readonly delayMs: number;
  private readonly concurrency: number;
  private readonly slots: InstanceSlots | undefined;
  private readonly pumpOnFree = () => this.pump();
  private readonly maxReruns: number;
  private readonly clock: Clock;
  private readonly events: BatcherEvents;
  private readonly queue: PendingItem<I, R>[] = [];
  private running = 0;
  private readonly gate: HealthGate;
  private probe: PendingItem<I, R> | undefined;
  private delayTimer: { handle: TimerHandle; due: number } | undefined;
  private closedReason: string | undefined;
  /** Items one instance answers per second: a running mean over recent batches. */
  private itemsPerSecond = 0;
  private idleWaiters: Array<() => void> = [];

  constructor(options: BatcherOptions<I, R>) {
    const positive = (name: string, value: number) => {
      if (!(Number.isInteger(value) && value >= 1)) throw new RangeError(`batcher: ${name} must be an integer ≥ 1, got ${value}`);
      return value;
    };
    this.run = options.runBatch;
    this.maxBatchSize = positive('maxBatchSize', options.maxBatchSize);
    this.maxQueueSize = positive('maxQueueSize', options.maxQueueSize);
    this.slots = options.slots;
    this.concurrency = this.slots ? this.slots.size : positive('concurrency', options.concurrency ?? 1);
    this.slots?.onFree(this.pumpOnFree);
    this.delayMs = Math.max(0, options.maxQueueDelayMs ?? 0);
    this.maxReruns = options.maxIsolationReruns ?? 2 * Math.ceil(Math.log2(this.maxBatchSize));
    this.clock = options.clock ?? realClock;
    this.events = options.events ?? {};
    this.gate = new HealthGate({
      clock: this.clock,
      maxFailures: options.maxConsecutiveFailures ?? 3,
      cooldownMs: options.unhealthyCooldownMs ?? 5000,
      onChange: (healthy) => this.events.onHealthChange?.(healthy),
      onHalfOpen: () => {
        if (options.probeItem && this.probe === undefined) this.submit(options.probeItem()).catch(() => {});
      },
    });
  }

  get queueDepth(): number { return this.queue.length; }
  get inFlightBatches(): number { return this.running; }
  get healthy(): boolean { return this.gate.healthy; }

  /** Queues one item; resolves with its result or rejects with an `ApiError`, exactly once. */
  submit(item: I, options: SubmitOptions = {}): Promise<R> {
    const { signal, deadlineMs } = options;
    if (this.closedReason !== undefined) return Promise.reject(new ApiError('not_ready', this.closedReason));
    const gone = signal?.aborted ? 'cancelled' : deadlineMs !== undefined && deadlineMs <= this.clock.now() ? 'deadline' : undefined;
    if (gone) {
      this.events.onDrop?.(gone, 'queued');
      return Promise.reject(goneError(gone));
    }
    const admission = this.gate.admit(this.probe !== undefined);
    if (admission === 'reject') {
      this.events.onReject?.('unhealthy');
      return Promise.reject(this.notReadyError());
    }
    if (this.queue.length >= this.maxQueueSize) {
      this.events.onReject?.('queue_full');
      return Promise.reject(new ApiError('overloaded', `queue full (${this.maxQueueSize} waiting)`, { retryAfterSeconds: this.retryAfterSeconds() }));
    }
    return new Promise<R>((resolve, reject) => {
      const entry = new PendingItem<I, R>(item, this.clock.now(), this.clock, resolve, reject);
      if (admission === 'probe') this.probe = entry; // the one request let through while half-open
      entry.watch(signal, deadlineMs, (reason) => this.drop(entry, reason));
      this.queue.push(entry);
      this.events.onQueueDepth?.(this.queue.length);
      this.pump();
    });
  }

  /** Refuses new work and rejects everything queued with `not_ready`; in-flight batches finish. */
  close(reason = 'shutting down'): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    this.setDelayTimer(undefined);
    this.gate.close();
    this.rejectQueued(() => new ApiError('not_ready', reason));
  }

  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.running === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Starts batches while an instance is idle and the queue (or the delay) allows. */
  private pump(): void {
    if (this.closedReason !== undefined) return;
    while (this.hasIdleInstance() && this.queue.length > 0) {
      const oldest = this.queue[0] as PendingItem<I, R>;
      const due = oldest.enqueuedAt + this.delayMs;
      if (this.queue.length < this.maxBatchSize && due > this.clock.now()) return this.setDelayTimer(due);
      if (this.slots && !this.slots.take()) break;
      this.dispatch(this.queue.splice(0, this.maxBatchSize));
    }
    this.setDelayTimer(undefined);
  }

  private hasIdleInstance(): boolean {
    return this.slots ? this.slots.available > 0 : this.running < this.concurrency;
  }

  private setDelayTimer(due: number | undefined): void {
    if (this.delayTimer?.due === due) return;
    if (this.delayTimer) this.clock.clearTimeout(this.delayTimer.handle);
    this.delayTimer = undefined;
    if (due === undefined) return;
    const handle = this.clock.setTimeout(() => { this.delayTimer = undefined; this.pump(); }, due - this.clock.now());
    this.delayTimer = { handle, due };
  }

  private dispatch(entries: PendingItem<I, R>[]): void {
    const now = this.clock.now();
    const batch: InFlightBatch = { live: entries.length, controller: new AbortController(), probe: false };
    for (const entry of entries) {
      entry.state = 'running';
      entry.batch = batch;
      if (entry === this.probe) batch.probe = true;
    }
    this.running += 1;
    this.events.onQueueDepth?.(this.queue.length);
    this.events.onBatchStart?.({ size: entries.length, queueWaitSeconds: entries.map((e) => (now - e.enqueuedAt) / 1000) });
    void this.execute(entries, batch, now);
  }

  private async execute(entries: PendingItem<I, R>[], batch: InFlightBatch, started: number): Promise<void> {
    let stats = { runs: 0, resolvedRuns: 0, failedRuns: 0 };
    try {
      await null; // runBatch always starts from a microtask, never inside submit()
      stats = await runIsolated(entries, (group) => this.run(group.map((e) => e.item), batch.controller.signal), {
        maxReruns: this.maxReruns,
        isLive: (entry) => entry.state === 'running',
        settle: (entry, outcome) => this.settle(entry, outcome),
      });
    } catch (error) {
      for (const entry of entries) this.settle(entry, { ok: false, error }); // a bug, not a run failure
    }
    const durationSeconds = (this.clock.now() - started) / 1000;
    // Only batches that ran through measure the drain rate: fast failures would overstate it.
    if (stats.failedRuns === 0) this.recordDrainRate(entries.length, durationSeconds);
    this.running -= 1;
    this.slots?.give(this.pumpOnFree);
    this.events.onBatchEnd?.({ size: entries.length, durationSeconds, ok: stats.failedRuns === 0, runs: stats.runs });
    if (this.closedReason === undefined) {
      const gone = batch.controller.signal.aborted; // a run failing after every caller left says nothing
      const health = stats.resolvedRuns > 0 ? 'up' : stats.failedRuns > 0 && !gone ? 'down' : 'unknown';
      if (this.gate.record(health, batch.probe)) this.rejectQueued(() => this.notReadyError(), 'unhealthy');
      this.pump();
    }
    this.notifyIfIdle();
  }

  private notifyIfIdle(): void {
    if (this.queue.length === 0 && this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private rejectQueued(error: () => ApiError, reason?: 'unhealthy'): void {
    const entries = this.queue.splice(0);
    this.setDelayTimer(undefined);
    if (entries.length > 0) this.events.onQueueDepth?.(0);
    for (const entry of entries) {
      if (reason) this.events.onReject?.(reason);
      this.settle(entry, { ok: false, error: error() });
    }
    this.notifyIfIdle();
  }

  /** A deadline or abort: a queued entry leaves the queue, a running one loses its result. */
  private drop(entry: PendingItem<I, R>, reason: GoneReason): void {
    const stage = entry.state;
    if (stage === 'done') return;
    this.settle(entry, { ok: false, error: goneError(reason) });
    this.events.onDrop?.(reason, stage);
    if (stage === 'running' && entry.batch?.live === 0) entry.batch.controller.abort(); // nobody waits for it
    if (stage === 'queued') {
      this.queue.splice(this.queue.indexOf(entry), 1);
      this.events.onQueueDepth?.(this.queue.length);
      this.pump();
      this.notifyIfIdle();
    }
  }

  private settle(entry: PendingItem<I, R>, outcome: ItemOutcome<R>): void {
    if (entry.settle(outcome) && entry === this.probe) this.probe = undefined;
  }

  private recordDrainRate(items: number, durationSeconds: number): void {
    if (durationSeconds <= 0) return;
    const rate = items / durationSeconds;
    this.itemsPerSecond = this.itemsPerSecond === 0 ? rate : 0.8 * this.itemsPerSecond + 0.2 * rate;
  }

  /**
   * Seconds until the queue has drained at the measured rate (items per second per instance, from
   * the batches' real sizes and durations, times the instances): what a 429's Retry-After says.
   */
  retryAfterSeconds(): number {
    const rate = this.itemsPerSecond * this.concurrency;
    return rate > 0 ? Math.max(1, Math.ceil(this.queue.length / rate)) : 1;
  }

  private notReadyError(): ApiError {
    const retryAfterSeconds = this.gate.retryAfterSeconds;
    return new ApiError('not_ready', 'model is unhealthy: its recent batches all failed', { retryAfterSeconds });
  }
}

function goneError(reason: GoneReason): ApiError {
  return reason === 'cancelled'
    ? new ApiError('cancelled', 'request cancelled before its answer')
    : new ApiError('deadline_exceeded', 'deadline passed before the answer');
}
