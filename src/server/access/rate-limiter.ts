/**
 * Per-principal limits: a token bucket (`requestsPerSecond` refill, `burst` capacity) and a cap
 * on requests in flight, both keyed by a string (a key id, or a client address when keys are
 * off). Refusals are `ApiError('rate_limited')` with a Retry-After (the error table:
 * docs/architecture.md, "Errors"). Time comes from an injectable Clock; buckets are refilled
 * lazily on use, so the limiter owns no timers.
 */
import { ApiError } from '../../errors.js';
import type { Clock } from '../../pipelines/clock.js';
import type { Limits } from './principal.js';

export interface RateLimiterOptions {
  clock: Clock;
  /** A bucket unused this long, with nothing in flight and full again, is dropped (default 60 s). */
  idleEvictMs?: number;
}

interface Bucket {
  /** Tokens now (fractional), as of `refilledAt`. */
  tokens: number;
  refilledAt: number;
  inFlight: number;
  lastUsedAt: number;
  /** The limits of its last use: what eviction checks "full again" against. */
  rate: ResolvedRate | undefined;
}

/** Refill sums drift (9 ms + 1 ms at 100/s is 0.9999999999999999 tokens): this close to whole counts as whole. */
const TOKEN_EPSILON = 1e-9;

interface ResolvedRate {
  perSecond: number;
  burst: number;
}

export class RateLimiter {
  private readonly clock: Clock;
  private readonly idleEvictMs: number;
  private readonly buckets = new Map<string, Bucket>();
  private lastSweepAt: number;

  constructor(options: RateLimiterOptions) {
    this.clock = options.clock;
    this.idleEvictMs = options.idleEvictMs ?? 60_000;
    this.lastSweepAt = this.clock.now();
  }

  /** Keys with a bucket now (bounded by the keys active within `idleEvictMs`). */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Admits one request of `key` under `limits`, or throws `rate_limited`. Returns the release,
   * to call once the request is answered (idempotent). Unset limits are unlimited; limits may
   * change between calls (a reloaded key file) and apply from the next call.
   */
  acquire(key: string, limits: Limits): () => void {
    const now = this.clock.now();
    this.sweep(now);
    const rate = resolveRate(limits);
    const maxConcurrent = limits.maxConcurrent;
    if (maxConcurrent !== undefined) assertLimit('maxConcurrent', maxConcurrent);
    if (!rate && maxConcurrent === undefined) return () => {};

    let bucket = this.buckets.get(key);
    if (!bucket) {
      bucket = { tokens: rate?.burst ?? 0, refilledAt: now, inFlight: 0, lastUsedAt: now, rate };
      this.buckets.set(key, bucket);
    }
    // A key that just gained a rate (a reloaded key file) starts with a full bucket, as a new key does.
    if (rate && !bucket.rate) bucket.tokens = rate.burst;
    refill(bucket, rate, now);
    bucket.rate = rate;
    bucket.lastUsedAt = now;

    // The rate first: its wait is the longer one. Neither refusal spends a token.
    if (rate && bucket.tokens < 1 - TOKEN_EPSILON) {
      const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / rate.perSecond));
      throw new ApiError(
        'rate_limited',
        `rate limit exceeded: ${rate.perSecond} requests per second (burst ${rate.burst}); retry in ${retryAfterSeconds} s`,
        { retryAfterSeconds },
      );
    }
    if (maxConcurrent !== undefined && bucket.inFlight >= maxConcurrent) {
      throw new ApiError(
        'rate_limited',
        `too many concurrent requests: at most ${maxConcurrent} in flight at once; retry when one is answered`,
        { retryAfterSeconds: 1 },
      );
    }
    if (rate) bucket.tokens = Math.max(0, bucket.tokens - 1);
    bucket.inFlight += 1;

    const held = bucket;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      held.inFlight -= 1;
      held.lastUsedAt = this.clock.now();
    };
  }

  /**
   * Drops buckets idle for `idleEvictMs`, at most once per `idleEvictMs / 2` (so O(1) amortised
   * per request). Only buckets whose drop changes nothing go: none in flight, tokens back at
   * burst (a fresh bucket starts full, so dropping a partly empty one would hand out tokens).
   */
  private sweep(now: number): void {
    if (now - this.lastSweepAt < this.idleEvictMs / 2) return;
    this.lastSweepAt = now;
    for (const [key, bucket] of this.buckets) {
      if (bucket.inFlight > 0 || now - bucket.lastUsedAt < this.idleEvictMs) continue;
      refill(bucket, bucket.rate, now);
      if (!bucket.rate || bucket.tokens >= bucket.rate.burst - TOKEN_EPSILON) this.buckets.delete(key);
    }
  }
}

/** The bucket's rate, or undefined when `requestsPerSecond` is unset (no rate limit). */
function resolveRate(limits: Limits): ResolvedRate | undefined {
  if (limits.requestsPerSecond === undefined) return undefined;
  assertLimit('requestsPerSecond', limits.requestsPerSecond);
  if (limits.burst !== undefined) assertLimit('burst', limits.burst);
  // A burst under 1 would never admit anything.
  return { perSecond: limits.requestsPerSecond, burst: Math.max(1, limits.burst ?? limits.requestsPerSecond) };
}

function refill(bucket: Bucket, rate: ResolvedRate | undefined, now: number): void {
  if (rate) {
    const elapsedSeconds = Math.max(0, now - bucket.refilledAt) / 1000;
    bucket.tokens = Math.min(rate.burst, bucket.tokens + elapsedSeconds * rate.perSecond);
  }
  bucket.refilledAt = now;
}

/** A zero, negative or NaN limit is a configuration bug; treating it as "unlimited" would hide it. */
function assertLimit(name: string, value: number): void {
  if (!(value > 0) || !Number.isFinite(value)) throw new RangeError(`${name} must be a positive finite number, got ${value}`);
}
