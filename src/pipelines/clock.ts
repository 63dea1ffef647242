/**
 * Time as the batcher sees it, injectable so tests can drive it by hand
 * (see test/helpers/fake-clock.ts).
 */

/** An opaque timer handle; only ever passed back to the clock that made it. */
export type TimerHandle = unknown;

export interface Clock {
  /** Milliseconds; absolute deadlines given to the batcher are on this scale. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}

/** Node's timers on wall-clock milliseconds (`Date.now()`, so `Date.now() + timeoutMs` is a valid deadline). */
export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** Node fires a timeout longer than this at once; longer waits are armed in steps. */
export const MAX_TIMER_MS = 2 ** 31 - 1;
