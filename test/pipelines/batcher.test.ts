import assert from 'node:assert/strict';
import { getEventListeners } from 'node:events';
import { describe, it } from 'node:test';
// Every assert.ok here carries a message: without one, a failing assert.ok under tsx can hang
// while Node tries to quote the source expression.

import { ApiError } from '../../src/errors.js';
import { Batcher, type BatcherEvents, type BatcherOptions, type RunBatch } from '../../src/pipelines/batcher.js';
import { InstanceSlots } from '../../src/pipelines/instance-slots.js';
import { FakeClock, flush } from '../helpers/fake-clock.js';

/** A runBatch the test answers by hand: each call waits until the test resolves or rejects it. */
interface Call<I, R> {
  items: I[];
  signal: AbortSignal;
  resolve(results: Array<R | Error>): void;
  reject(error: unknown): void;
}
function manualRunner<I = number, R = string>() {
  const calls: Array<Call<I, R>> = [];
  const runBatch: RunBatch<I, R> = (items, signal) =>
    new Promise((resolve, reject) => calls.push({ items: [...items], signal, resolve, reject }));
  return { calls, runBatch };
}

/** A promise's state, readable at any time (and its rejection handled at once). */
interface Tracked<T> {
  status: 'pending' | 'resolved' | 'rejected';
  value?: T;
  error?: unknown;
}
function track<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { status: 'pending' };
  promise.then(
    (value) => Object.assign(t, { status: 'resolved', value }),
    (error: unknown) => Object.assign(t, { status: 'rejected', error }),
  );
  return t;
}
function assertRejected(t: Tracked<unknown>, code: string): ApiError {
  assert.equal(t.status, 'rejected', `expected a rejection with ${code}, got ${t.status}`);
  assert.ok(t.error instanceof ApiError, `expected an ApiError, got ${String(t.error)}`);
  assert.equal(t.error.code, code);
  return t.error;
}

/** Records every event as [name, payload]. */
function recorder() {
  const log: Array<[string, unknown]> = [];
  const events: Required<BatcherEvents> = {
    onQueueDepth: (depth) => log.push(['depth', depth]),
    onBatchStart: (info) => log.push(['start', info]),
    onBatchEnd: (info) => log.push(['end', info]),
    onReject: (reason) => log.push(['reject', reason]),
    onDrop: (reason, stage) => log.push(['drop', `${reason}/${stage}`]),
    onHealthChange: (healthy) => log.push(['health', healthy]),
  };
  const of = (name: string) => log.filter(([n]) => n === name).map(([, v]) => v);
  return { log, events, of };
}

function setup<I = number, R = string>(options: Partial<BatcherOptions<I, R>> = {}) {
  const clock = new FakeClock(1000);
  const runner = manualRunner<I, R>();
  const rec = recorder();
  const batcher = new Batcher<I, R>({
    runBatch: runner.runBatch,
    maxBatchSize: 8,
    maxQueueSize: 100,
    clock,
    events: rec.events,
    ...options,
  });
  return { clock, batcher, calls: runner.calls, rec };
}

const answer = (items: number[]) => items.map((x) => `r${x}`);

describe('batch formation', () => {
  it('an idle instance takes a lone request at once, with no timer', async () => {
    const { batcher, calls, clock, rec } = setup();
    const a = track(batcher.submit(1));
    assert.equal(batcher.inFlightBatches, 1);
    assert.equal(batcher.queueDepth, 0);
    assert.equal(clock.pendingTimers, 0);
    await flush();
    assert.deepEqual(calls.map((c) => c.items), [[1]]);
    calls[0]!.resolve(['one']);
    await flush();
    assert.deepEqual(a, { status: 'resolved', value: 'one' });
    assert.equal(batcher.inFlightBatches, 0);
    assert.deepEqual(rec.of('start'), [{ size: 1, queueWaitSeconds: [0] }]);
    assert.deepEqual(rec.of('end'), [{ size: 1, durationSeconds: 0, ok: true, runs: 1 }]);
  });

  it('16 concurrent submits, concurrency 1, maxBatchSize 8: batches of 1, 8, 7 in FIFO order', async () => {
    const { batcher, calls, rec } = setup({ concurrency: 1, maxBatchSize: 8 });
    const ids = Array.from({ length: 16 }, (_, i) => i);
    const results = ids.map((i) => track(batcher.submit(i)));
    assert.equal(batcher.queueDepth, 15);
    await flush();
    assert.deepEqual(calls.map((c) => c.items), [[0]]);
    calls[0]!.resolve(answer(calls[0]!.items));
    await flush();
    assert.deepEqual(calls[1]!.items, [1, 2, 3, 4, 5, 6, 7, 8]);
    assert.equal(batcher.queueDepth, 7);
    calls[1]!.resolve(answer(calls[1]!.items));
    await flush();
    assert.deepEqual(calls[2]!.items, [9, 10, 11, 12, 13, 14, 15]);
    calls[2]!.resolve(answer(calls[2]!.items));
    await flush();
    assert.deepEqual(results.map((r) => r.value), ids.map((i) => `r${i}`));
    assert.deepEqual(rec.of('start').map((s) => (s as { size: number }).size), [1, 8, 7]);
    // depth: 1 then 0 (taken at once), 1..15 accumulating, 7 after the batch of 8, 0 after the 7
    assert.deepEqual(rec.of('depth'), [1, 0, ...ids.slice(1), 7, 0]);
    assert.equal(batcher.queueDepth, 0);
  });

  it('with several instances each idle one takes a batch', async () => {
    const { batcher, calls } = setup({ concurrency: 2, maxBatchSize: 4 });
    for (let i = 0; i < 7; i++) track(batcher.submit(i));
    await flush();
    assert.equal(batcher.inFlightBatches, 2);
    assert.deepEqual(calls.map((c) => c.items), [[0], [1]]);
    calls[1]!.resolve(answer(calls[1]!.items)); // the second instance frees first
    await flush();
    assert.deepEqual(calls[2]!.items, [2, 3, 4, 5]);
    assert.equal(batcher.inFlightBatches, 2);
    assert.equal(batcher.queueDepth, 1);
  });

  it('maxQueueDelayMs: an idle instance waits until the OLDEST request has waited the delay', async () => {
    const { batcher, calls, clock, rec } = setup({ maxQueueDelayMs: 10, maxBatchSize: 4 });
    const a = track(batcher.submit(1));
    await clock.advance(6);
    track(batcher.submit(2));
    await clock.advance(3); // oldest waited 9 ms
    assert.equal(calls.length, 0);
    assert.equal(batcher.queueDepth, 2);
    await clock.advance(1); // oldest waited 10 ms: go, though the second waited only 4
    assert.deepEqual(calls.map((c) => c.items), [[1, 2]]);
    assert.deepEqual(rec.of('start'), [{ size: 2, queueWaitSeconds: [0.01, 0.004] }]);
    calls[0]!.resolve(['a', 'b']);
    await flush();
    assert.equal(a.value, 'a');
    assert.equal(clock.pendingTimers, 0);
  });

  it('maxQueueDelayMs: a full batch goes at once; an aborted oldest re-times the wait', async () => {
    const { batcher, calls, clock } = setup({ maxQueueDelayMs: 10, maxBatchSize: 3 });
    for (let i = 0; i < 3; i++) track(batcher.submit(i));
    await flush();
    assert.deepEqual(calls.map((c) => c.items), [[0, 1, 2]]); // full: no waiting
    calls[0]!.resolve(['a', 'b', 'c']);
    await flush();

    const controller = new AbortController();
    const first = track(batcher.submit(10, { signal: controller.signal }));
    await clock.advance(4);
    track(batcher.submit(11));
    controller.abort();
    await flush();
    assertRejected(first, 'cancelled');
    await clock.advance(9); // 11 has waited 9 ms; the aborted item's due time passed unused
    assert.equal(calls.length, 1);
    await clock.advance(1);
    assert.deepEqual(calls[1]!.items, [11]);
  });

  it('runBatch starts from a microtask, never inside submit()', async () => {
    const clock = new FakeClock();
    let calledDuringSubmit = false;
    let inSubmit = false;
    const batcher = new Batcher<number, number>({
      maxBatchSize: 4, maxQueueSize: 10, clock,
      runBatch: async (xs) => { calledDuringSubmit ||= inSubmit; return xs; },
    });
    inSubmit = true;
    const p = batcher.submit(5);
    inSubmit = false;
    assert.equal(await p, 5);
    assert.equal(calledDuringSubmit, false);
  });
});

describe('admission', () => {
  it('a full queue rejects at once with overloaded and a retry-after estimate', async () => {
    const { batcher, calls, clock, rec } = setup({ maxQueueSize: 16, maxBatchSize: 8 });
    track(batcher.submit(0)); // running
    const queued = Array.from({ length: 16 }, (_, i) => track(batcher.submit(i + 1)));
    const refused = track(batcher.submit(99));
    await flush();
    const error = assertRejected(refused, 'overloaded');
    assert.ok((error.retryAfterSeconds ?? 0) >= 1, `retry-after ${error.retryAfterSeconds}`);
    assert.deepEqual(rec.of('reject'), ['queue_full']);
    assert.deepEqual(new Set(queued.map((t) => t.status)), new Set(['pending']));

    // Draining 8 items per 4 s batch (2 items/s measured), a full queue of 16 estimates 8 s.
    await clock.advance(4000);
    calls[0]!.resolve(['x']); // a batch of 1 in 4 s: 0.25 items/s
    await flush();
    assert.equal(batcher.queueDepth, 8); // the next 8 went to the instance
    await clock.advance(4000);
    calls[1]!.resolve(Array(8).fill('x')); // 8 in 4 s
    await flush();
    while (batcher.queueDepth < 16) track(batcher.submit(0));
    const again = track(batcher.submit(101));
    await flush();
    // The running mean weighs the last batch 0.2: 0.8·0.25 + 0.2·2 = 0.6 items/s → 16 / 0.6 = 27 s.
    assert.equal(assertRejected(again, 'overloaded').retryAfterSeconds, 27);
  });

  it('in-flight items do not count against maxQueueSize', async () => {
    const { batcher } = setup({ maxQueueSize: 1, maxBatchSize: 1 });
    const a = track(batcher.submit(1)); // runs
    const b = track(batcher.submit(2)); // waits
    const c = track(batcher.submit(3)); // refused
    await flush();
    assert.equal(a.status, 'pending');
    assert.equal(b.status, 'pending');
    assertRejected(c, 'overloaded');
  });

  it('rejects invalid options', () => {
    const runBatch: RunBatch<number, number> = async (xs) => xs;
    assert.throws(() => new Batcher({ runBatch, maxBatchSize: 0, maxQueueSize: 1 }), RangeError);
    assert.throws(() => new Batcher({ runBatch, maxBatchSize: 1, maxQueueSize: 0 }), RangeError);
    assert.throws(() => new Batcher({ runBatch, maxBatchSize: 1, maxQueueSize: 1, concurrency: 1.5 }), RangeError);
  });
});

describe('deadlines and cancellation', () => {
  it('a deadline while queued: rejects at the deadline, leaves the queue, never runs', async () => {
    const { batcher, calls, clock, rec } = setup();
    const a = track(batcher.submit(1));
    const b = track(batcher.submit(2, { deadlineMs: clock.now() + 100 }));
    const c = track(batcher.submit(3));
    await clock.advance(99);
    assert.equal(b.status, 'pending');
    await clock.advance(1);
    assertRejected(b, 'deadline_exceeded');
    assert.equal(batcher.queueDepth, 1);
    assert.deepEqual(rec.of('drop'), ['deadline/queued']);
    calls[0]!.resolve(['a']);
    await flush();
    assert.deepEqual(calls.map((x) => x.items), [[1], [3]]);
    calls[1]!.resolve(['c']);
    await flush();
    assert.equal(a.value, 'a');
    assert.equal(c.value, 'c');
    assert.equal(clock.pendingTimers, 0);
  });

  it('a deadline while in flight: that item rejects at its deadline, its batch mates are answered', async () => {
    const { batcher, calls, clock, rec } = setup({ maxQueueDelayMs: 5, maxBatchSize: 2 });
    const a = track(batcher.submit(1, { deadlineMs: clock.now() + 50 }));
    const b = track(batcher.submit(2, { deadlineMs: clock.now() + 500 }));
    await flush();
    assert.deepEqual(calls[0]!.items, [1, 2]);
    await clock.advance(50);
    assertRejected(a, 'deadline_exceeded');
    assert.equal(b.status, 'pending');
    assert.equal(calls[0]!.signal.aborted, false); // b still waits for the batch
    assert.deepEqual(rec.of('drop'), ['deadline/running']);
    calls[0]!.resolve(['late-a', 'b']);
    await flush();
    assert.deepEqual(b, { status: 'resolved', value: 'b' });
    assertRejected(a, 'deadline_exceeded'); // the late result is dropped
    assert.equal(clock.pendingTimers, 0);
  });

  it('a deadline already past rejects at submit', async () => {
    const { batcher, calls, clock } = setup();
    const a = track(batcher.submit(1, { deadlineMs: clock.now() }));
    await flush();
    assertRejected(a, 'deadline_exceeded');
    assert.equal(calls.length, 0);
  });

  it('an abort drops a queued item before it joins a batch and removes its listener', async () => {
    const { batcher, calls, rec } = setup();
    track(batcher.submit(1));
    const controller = new AbortController();
    const b = track(batcher.submit(2, { signal: controller.signal }));
    track(batcher.submit(3));
    assert.equal(getEventListeners(controller.signal, 'abort').length, 1);
    controller.abort();
    await flush();
    assertRejected(b, 'cancelled');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.deepEqual(rec.of('drop'), ['cancelled/queued']);
    calls[0]!.resolve(['a']);
    await flush();
    assert.deepEqual(calls[1]!.items, [3]);
  });

  it('an already-aborted signal rejects at submit', async () => {
    const { batcher, calls } = setup();
    const a = track(batcher.submit(1, { signal: AbortSignal.abort() }));
    await flush();
    assertRejected(a, 'cancelled');
    assert.equal(calls.length, 0);
    assert.equal(batcher.queueDepth, 0);
  });

  it('aborts in flight reject those items; the batch signal aborts once every item has gone', async () => {
    const { batcher, calls, clock, rec } = setup({ maxQueueDelayMs: 1, maxBatchSize: 2, maxConsecutiveFailures: 1 });
    const c1 = new AbortController();
    const c2 = new AbortController();
    const a = track(batcher.submit(1, { signal: c1.signal }));
    const b = track(batcher.submit(2, { signal: c2.signal, deadlineMs: clock.now() + 1000 }));
    await flush();
    const { signal } = calls[0]!;
    c1.abort();
    await flush();
    assertRejected(a, 'cancelled');
    assert.equal(signal.aborted, false);
    c2.abort();
    await flush();
    assertRejected(b, 'cancelled');
    assert.equal(signal.aborted, true);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(batcher.inFlightBatches, 1); // the instance is busy until runBatch returns
    calls[0]!.reject(new Error('aborted'));
    await flush();
    assert.equal(batcher.inFlightBatches, 0);
    assert.equal(rec.of('health').length, 0); // a run failing after everyone left is no model failure
  });

  it('leaves no listener and no timer behind once answered', async () => {
    const { batcher, calls, clock } = setup();
    const controller = new AbortController();
    const a = track(batcher.submit(1, { signal: controller.signal, deadlineMs: clock.now() + 1000 }));
    await flush();
    calls[0]!.resolve(['a']);
    await flush();
    assert.equal(a.value, 'a');
    assert.equal(getEventListeners(controller.signal, 'abort').length, 0);
    assert.equal(clock.pendingTimers, 0);
    assert.equal(calls[0]!.signal.aborted, false);
  });
});

describe('failure isolation', () => {
  /** 8 items submitted together (a delay lets them form one batch); runBatch counts its calls. */
  async function runEight(runBatch: RunBatch<number, string>, options: Partial<BatcherOptions<number, string>> = {}) {
    const clock = new FakeClock();
    const rec = recorder();
    const batcher = new Batcher<number, string>({
      runBatch, maxBatchSize: 8, maxQueueSize: 100, maxQueueDelayMs: 10, clock, events: rec.events, ...options,
    });
    const results = Array.from({ length: 8 }, (_, i) => track(batcher.submit(i)));
    await batcher.drain();
    await flush();
    return { results, rec, batcher };
  }

  it('bisects a failing batch of 8 to the one poison item, with a bounded number of re-runs', async () => {
    const sizes: number[] = [];
    const { results, rec } = await runEight(async (items) => {
      sizes.push(items.length);
      if (items.includes(5)) throw new Error('poison pixel');
      return answer([...items]);
    });
    results.forEach((r, i) => {
      if (i === 5) assert.equal(assertRejected(r, 'internal').message, 'poison pixel');
      else assert.deepEqual(r, { status: 'resolved', value: `r${i}` });
    });
    assert.deepEqual(sizes, [8, 4, 4, 2, 1, 1, 2]); // depth first: 1 run + 2·log2(8) re-runs
    assert.deepEqual(rec.of('end'), [{ size: 8, durationSeconds: 0, ok: false, runs: 7 }]);
  });

  it('an ApiError thrown by runBatch passes through unchanged; a synchronous throw is handled too', async () => {
    const thrown = new ApiError('invalid_image', 'truncated PNG');
    const runBatch: RunBatch<number, string> = (items) => {
      if (items.includes(2)) throw thrown; // synchronously, not a rejected promise
      return Promise.resolve(answer([...items]));
    };
    const { results } = await runEight(runBatch);
    assert.equal(results[2]!.error, thrown);
    assert.equal(results.filter((r) => r.status === 'resolved').length, 7);
  });

  it('per-item Error results fail only their item, without re-runs', async () => {
    let calls = 0;
    const { results, rec } = await runEight(async (items) => {
      calls += 1;
      return items.map((x) => (x % 3 === 0 ? new Error(`bad ${x}`) : `r${x}`));
    });
    assert.equal(calls, 1);
    assert.deepEqual(results.map((r) => r.status), ['rejected', 'resolved', 'resolved', 'rejected', 'resolved', 'resolved', 'rejected', 'resolved']);
    assert.equal(assertRejected(results[3]!, 'internal').message, 'bad 3');
    assert.equal((rec.of('end')[0] as { ok: boolean }).ok, true);
  });

  it('a broken model fails every item with its error, within the re-run budget', async () => {
    let calls = 0;
    const { results, batcher } = await runEight(async () => {
      calls += 1;
      throw new Error('CUDA out of memory');
    });
    for (const r of results) assert.equal(assertRejected(r, 'internal').message, 'CUDA out of memory');
    assert.ok(calls <= 1 + 2 * Math.log2(8), `${calls} runs`);
    assert.equal(batcher.healthy, true); // the re-runs of one batch count as one failure (K = 3)
  });

  it('a wrong number of results counts as a failed run', async () => {
    const { results, rec } = await runEight(async (items) => (items.length === 8 ? ['only one'] : answer([...items])));
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set(['resolved']));
    assert.deepEqual(rec.of('end'), [{ size: 8, durationSeconds: 0, ok: false, runs: 3 }]);
  });

  it('maxIsolationReruns: 0 fails the whole batch with the error', async () => {
    let calls = 0;
    const { results } = await runEight(async (items) => {
      calls += 1;
      if (items.includes(5)) throw new Error('poison');
      return answer([...items]);
    }, { maxIsolationReruns: 0 });
    assert.equal(calls, 1);
    assert.deepEqual(new Set(results.map((r) => r.status)), new Set(['rejected']));
  });
});

describe('health', () => {
  it('with a probeItem, probes by itself when the cooldown ends (no traffic needed)', async () => {
    const { batcher, calls, clock, rec } = setup({ maxBatchSize: 1, maxConsecutiveFailures: 1, unhealthyCooldownMs: 1000, probeItem: () => 0 });
    const failed = track(batcher.submit(1));
    await flush();
    calls[0]!.reject(new Error('session crashed'));
    await flush();
    assertRejected(failed, 'internal');
    assert.equal(batcher.healthy, false, 'one failed batch trips the gate');
    await clock.advance(1000);
    await flush();
    assert.deepEqual(calls[1]?.items, [0], 'the batcher ran its own probe item');
    calls[1]!.resolve(['ok']);
    await flush();
    assert.equal(batcher.healthy, true, 'the probe brought health back');
    assert.deepEqual(rec.of('health'), [false, true]);
  });

  it('K consecutive failed batches → unhealthy → cooldown → probe → healthy', async () => {
    const { batcher, calls, clock, rec } = setup({ maxBatchSize: 1, maxConsecutiveFailures: 3, unhealthyCooldownMs: 2000 });
    const fail = async (i: number) => {
      calls[i]!.reject(new Error('session crashed'));
      await flush();
    };
    const first = [track(batcher.submit(1)), track(batcher.submit(2)), track(batcher.submit(3))];
    const queued = track(batcher.submit(4));
    await flush();
    await fail(0);
    await fail(1);
    assert.equal(batcher.healthy, true);
    await fail(2);
    first.forEach((t) => assertRejected(t, 'internal'));
    assert.equal(batcher.healthy, false);
    assert.deepEqual(rec.of('health'), [false]);
    assert.equal(assertRejected(queued, 'not_ready').retryAfterSeconds, 2); // queued work is refused too
    assert.equal(batcher.queueDepth, 0);

    const refused = track(batcher.submit(5));
    await flush();
    assertRejected(refused, 'not_ready');
    assert.deepEqual(rec.of('reject'), ['unhealthy', 'unhealthy']);

    await clock.advance(2000); // half-open: one probe goes through, the others are refused
    const probe = track(batcher.submit(6));
    const other = track(batcher.submit(7));
    await flush();
    assertRejected(other, 'not_ready');
    assert.deepEqual(calls[3]!.items, [6]);
    await fail(3); // the probe fails: still unhealthy, the cooldown starts again
    assertRejected(probe, 'internal');
    assert.equal(batcher.healthy, false);
    const refusedAgain = track(batcher.submit(8));
    await flush();
    assertRejected(refusedAgain, 'not_ready');

    await clock.advance(1999);
    const early = track(batcher.submit(9));
    await flush();
    assertRejected(early, 'not_ready');
    await clock.advance(1);
    const probe2 = track(batcher.submit(10));
    await flush();
    calls[4]!.resolve(['ok']);
    await flush();
    assert.equal(probe2.value, 'ok');
    assert.equal(batcher.healthy, true);
    assert.deepEqual(rec.of('health'), [false, true]);

    const after = track(batcher.submit(11));
    await flush();
    calls[5]!.resolve(['fine']);
    await flush();
    assert.equal(after.value, 'fine');
    assert.equal(clock.pendingTimers, 0);
  });

  it('a probe that goes away lets the next request probe', async () => {
    const { batcher, calls, clock } = setup({ maxBatchSize: 1, maxConsecutiveFailures: 1, unhealthyCooldownMs: 100 });
    track(batcher.submit(1));
    await flush();
    calls[0]!.reject(new Error('down'));
    await flush();
    await clock.advance(100);
    const blocker = track(batcher.submit(2, { deadlineMs: clock.now() + 10 }));
    await clock.advance(10); // the probe ran and timed out; its batch is still running
    assertRejected(blocker, 'deadline_exceeded');
    const next = track(batcher.submit(3)); // accepted as the new probe, waits for the instance
    await flush();
    assert.equal(next.status, 'pending');
    calls[1]!.resolve(['late']);
    await flush();
    assert.equal(batcher.healthy, true); // the model answered the first probe's batch
    calls[2]!.resolve(['three']);
    await flush();
    assert.equal(next.value, 'three');
  });

  it('a batch with any answered item resets the failure count', async () => {
    const { batcher, calls } = setup({ maxBatchSize: 1, maxConsecutiveFailures: 2 });
    for (let i = 0; i < 5; i++) track(batcher.submit(i));
    await flush();
    calls[0]!.reject(new Error('x'));
    await flush();
    calls[1]!.resolve(['ok']);
    await flush();
    calls[2]!.reject(new Error('x'));
    await flush();
    assert.equal(batcher.healthy, true);
    calls[3]!.reject(new Error('x'));
    await flush();
    assert.equal(batcher.healthy, false);
  });
});

describe('close and drain', () => {
  it('close() rejects queued work with not_ready, lets in-flight finish, refuses new work', async () => {
    const { batcher, calls, clock } = setup({ maxQueueDelayMs: 0 });
    const running = track(batcher.submit(1, { deadlineMs: clock.now() + 5000 }));
    const queued = [track(batcher.submit(2)), track(batcher.submit(3, { deadlineMs: clock.now() + 5000 }))];
    let drained = false;
    void batcher.drain().then(() => (drained = true));
    batcher.close();
    await flush();
    for (const q of queued) assert.equal(assertRejected(q, 'not_ready').message, 'shutting down');
    const late = track(batcher.submit(4));
    await flush();
    assertRejected(late, 'not_ready');
    assert.equal(running.status, 'pending');
    assert.equal(drained, false);
    calls[0]!.resolve(['done']);
    await flush();
    assert.equal(running.value, 'done');
    assert.equal(drained, true);
    assert.equal(calls.length, 1);
    assert.equal(clock.pendingTimers, 0);
  });

  it('close() while items wait for the delay clears the delay timer and resolves drain()', async () => {
    const { batcher, clock } = setup({ maxQueueDelayMs: 50 });
    const a = track(batcher.submit(1));
    const drained = batcher.drain();
    batcher.close('model unloaded');
    await drained;
    assert.equal(assertRejected(a, 'not_ready').message, 'model unloaded');
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('invariants', () => {
  it('every accepted request gets exactly one answer under random load (seeded)', async () => {
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const { batcher, calls, clock } = setup({
        concurrency: 3, maxBatchSize: 4, maxQueueSize: 12, maxQueueDelayMs: 3, maxConsecutiveFailures: 4, unhealthyCooldownMs: 20,
      });
      const all: Array<Tracked<string>> = [];
      const signals: AbortSignal[] = [];
      let answered = 0;
      for (let step = 0; step < 400; step++) {
        const r = random();
        if (r < 0.45) {
          const controller = new AbortController();
          signals.push(controller.signal);
          const deadlineMs = random() < 0.3 ? clock.now() + Math.floor(random() * 20) : undefined;
          all.push(track(batcher.submit(step, { signal: controller.signal, deadlineMs })));
          if (random() < 0.15) controller.abort();
        } else if (r < 0.8 && answered < calls.length) {
          const call = calls[answered++]!;
          const roll = random();
          if (roll < 0.2) call.reject(new Error('boom'));
          else call.resolve(call.items.map((x) => (roll < 0.3 ? new Error(`bad ${x}`) : `r${x}`)));
        } else {
          await clock.advance(Math.floor(random() * 8));
        }
        await flush();
      }
      while (answered < calls.length || batcher.queueDepth > 0 || batcher.inFlightBatches > 0) {
        for (; answered < calls.length; answered++) calls[answered]!.resolve(calls[answered]!.items.map((x) => `r${x}`));
        await clock.advance(25);
      }
      batcher.close();
      await flush();
      assert.ok(all.length > 100, `only ${all.length} submits`);
      assert.deepEqual(all.filter((t) => t.status === 'pending'), []);
      for (const t of all) if (t.status === 'rejected') assert.ok(t.error instanceof ApiError, String(t.error));
      assert.equal(signals.filter((s) => getEventListeners(s, 'abort').length > 0).length, 0, 'abort listeners left');
      assert.equal(clock.pendingTimers, 0);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });
});

describe('instances shared by the batchers of one model (InstanceSlots)', () => {
  it('a batch starts only on a free instance, and a freed one goes to the other batcher first', async () => {
    const slots = new InstanceSlots(1);
    const text = setup({ slots, maxBatchSize: 2 });
    const vision = setup({ slots, maxBatchSize: 2 });
    const t1 = track(text.batcher.submit(1));
    await flush();
    assert.equal(text.calls.length, 1, 'text took the one instance');
    const v1 = track(vision.batcher.submit(10));
    const t2 = track(text.batcher.submit(2));
    await flush();
    assert.equal(vision.calls.length, 0, 'vision waits: no batch is sent to a busy pool');
    assert.equal(vision.batcher.queueDepth, 1);
    text.calls[0]!.resolve(answer([1]));
    await flush();
    assert.equal(t1.value, 'r1');
    assert.deepEqual(vision.calls.map((c) => c.items), [[10]], 'the freed instance went to the waiting tower');
    assert.equal(text.calls.length, 1, 'text waits its turn');
    vision.calls[0]!.resolve(answer([10]));
    await flush();
    assert.equal(v1.value, 'r10');
    assert.deepEqual(text.calls.map((c) => c.items), [[1], [2]]);
    text.calls[1]!.resolve(answer([2]));
    await flush();
    assert.equal(t2.value, 'r2');
    assert.equal(slots.available, 1);
  });
});
