/**
 * A hand-driven Clock for unit tests: time moves only in `advance(ms)`, which fires the due
 * timers in order (by due time, then by creation), letting promise callbacks run between them.
 *
 *     const clock = new FakeClock();
 *     clock.setTimeout(() => console.log('fired at', clock.now()), 10);
 *     await clock.advance(10); // "fired at 10"
 */
import type { Clock, TimerHandle } from '../../src/pipelines/clock.js';

interface Timer {
  due: number;
  seq: number;
  callback: () => void;
}

/** Lets every pending promise callback (and the microtasks they queue) run. */
export function flush(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

export class FakeClock implements Clock {
  private time: number;
  private seq = 0;
  private readonly timers = new Map<number, Timer>();

  constructor(start = 0) {
    this.time = start;
  }

  now(): number {
    return this.time;
  }

  setTimeout(callback: () => void, ms: number): TimerHandle {
    const id = ++this.seq;
    this.timers.set(id, { due: this.time + Math.max(0, ms), seq: id, callback });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.timers.delete(handle as number);
  }

  /** Timers set and neither fired nor cleared. */
  get pendingTimers(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing each timer due by then at its own due time. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    await flush();
    for (;;) {
      let next: [number, Timer] | undefined;
      for (const entry of this.timers) {
        const [, timer] = entry;
        if (timer.due > target) continue;
        if (!next || timer.due < next[1].due || (timer.due === next[1].due && timer.seq < next[1].seq)) next = entry;
      }
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].due;
      next[1].callback();
      await flush();
    }
    this.time = target;
    await flush();
  }
}
