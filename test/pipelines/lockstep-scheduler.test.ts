/**
 * The lockstep decode scheduler on the generated ViT-GPT2 captioner, with the real worker pool:
 * requests arriving together share every step and get the tokens they get alone; rows leave at
 * their own length; a caller that goes away frees its row; sampling is reproducible; past the
 * bounds requests wait, then get `overloaded`.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { PlainTensor } from '../../src/models/session/tensor.js';
import type { WorkerPool } from '../../src/models/session/worker-pool.js';
import { BeamSearch } from '../../src/pipelines/generation/beam-search.js';
import { CacheSizer } from '../../src/pipelines/generation/cache-sizer.js';
import { LockstepScheduler, type GenerationEvents, type SchedulerLimits } from '../../src/pipelines/generation/lockstep-scheduler.js';
import { captionerPool, CAPTIONER_PAST_TO_PRESENT } from '../helpers/captioner-pool.js';

const EOS = 50256;
const PHOTOS = ['chelsea.png', 'rocket.jpg', 'coffee.png'] as const;

describe('lockstep decode scheduler', () => {
  let pool: WorkerPool;
  let states: PlainTensor[];
  const scheduler = (limits: Partial<SchedulerLimits> = {}, options: { cacheSizer?: CacheSizer; events?: GenerationEvents } = {}) =>
    new LockstepScheduler(
      {
        pool,
        session: 'decoder',
        pastToPresent: CAPTIONER_PAST_TO_PRESENT,
        encoderInput: 'encoder_hidden_states',
        startTokenId: EOS,
        eosTokenIds: [EOS],
        ...(options.cacheSizer && { cacheSizer: options.cacheSizer }),
      },
      { maxActiveRows: 16, maxCohortRows: 8, maxQueued: 16, ...limits },
      options.events,
    );

  before(async () => {
    ({ pool, imageTokens: states } = await captionerPool(PHOTOS));
  });
  after(() => pool?.close());

  it('batches requests that arrive together into one cohort, each getting the tokens it gets alone', async () => {
    const alone = [];
    for (const s of states) alone.push(await scheduler().submit({ encoderStates: s, maxNewTokens: 6 }));
    const together = scheduler();
    const results = await Promise.all(states.map((s) => together.submit({ encoderStates: s, maxNewTokens: 6 })));
    assert.deepEqual(results, alone);
    assert.deepEqual(together.stats.stepRows, [3, 3, 3, 3, 3, 3], 'three rows in every session call');
    assert.deepEqual(results[0], { tokens: results[0]!.tokens, finishReason: 'length' });
    assert.equal(results[0]!.tokens.length, 6);
    assert.deepEqual([together.stats.activeRows, together.stats.cohorts], [0, 0]);
  });

  it('lets each row leave at its own length or stop, the others going on unchanged', async () => {
    const alone = (await scheduler().submit({ encoderStates: states[2]!, maxNewTokens: 7 })).tokens;
    const s = scheduler();
    let seen = 0;
    const [short, stopped, long] = await Promise.all([
      s.submit({ encoderStates: states[0]!, maxNewTokens: 2 }),
      s.submit({ encoderStates: states[1]!, maxNewTokens: 7, onToken: () => ++seen === 4 }),
      s.submit({ encoderStates: states[2]!, maxNewTokens: 7 }),
    ]);
    assert.deepEqual([short!.finishReason, short!.tokens.length], ['length', 2]);
    assert.deepEqual([stopped!.finishReason, stopped!.tokens.length], ['stop', 4]);
    assert.deepEqual(long!.tokens, alone);
    assert.deepEqual(s.stats.stepRows, [3, 3, 2, 2, 1, 1, 1]);
  });

  it('frees the row of a caller that goes away, running or waiting', async () => {
    const s = scheduler({ maxActiveRows: 1, maxQueued: 4 });
    const running = new AbortController();
    const waiting = new AbortController();
    const first = s.submit({ encoderStates: states[0]!, maxNewTokens: 50, signal: running.signal, onToken: (t) => void (t >= 0 && running.abort()) });
    const second = s.submit({ encoderStates: states[1]!, maxNewTokens: 50, signal: waiting.signal });
    assert.equal(s.stats.queued, 1);
    waiting.abort();
    assert.deepEqual(await second, { tokens: [], finishReason: 'cancelled' });
    const result = await first;
    assert.equal(result.finishReason, 'cancelled');
    assert.ok(result.tokens.length <= 2, `stopped at the next step boundary (${result.tokens.length} tokens)`);
    assert.deepEqual([s.stats.activeRows, s.stats.queued, s.stats.cohorts], [0, 0, 0]);
  });

  it('samples reproducibly with a seed, and refuses past its bounds', async () => {
    const sampled = (seed: number) => scheduler().submit({ encoderStates: states[0]!, maxNewTokens: 5, sampling: { temperature: 1, topK: 50, seed } });
    assert.deepEqual(await sampled(3), await sampled(3));
    assert.notDeepEqual((await sampled(3)).tokens, (await sampled(4)).tokens);
    const s = scheduler({ maxActiveRows: 1, maxQueued: 1 });
    const runs = [s.submit({ encoderStates: states[0]!, maxNewTokens: 3 }), s.submit({ encoderStates: states[1]!, maxNewTokens: 3 })];
    await assert.rejects(s.submit({ encoderStates: states[2]!, maxNewTokens: 3 }), { code: 'overloaded' });
    assert.equal((await Promise.all(runs)).length, 2, 'the admitted and the queued one both finish');
  });

  it('runs beam search in a cohort: the beams find what beam search over uncached decoding finds', async () => {
    const beams = { numBeams: 3, lengthPenalty: 1 };
    const search = new BeamSearch(beams, {}, [EOS], [EOS], 6);
    const empty = Object.fromEntries(Object.keys(CAPTIONER_PAST_TO_PRESENT).map((name) => [name, { type: 'float32' as const, dims: [1, 2, 0, 16], data: new Float32Array(0) }]));
    while (!search.isDone) {
      const logits = [];
      for (const beam of search.beams) {
        const sequence = [EOS, ...beam.tokens];
        const out = await pool.run('decoder', { input_ids: { type: 'int64', dims: [1, sequence.length], data: BigInt64Array.from(sequence.map(BigInt)) }, encoder_hidden_states: { ...states[0]!, data: states[0]!.data.slice() }, use_cache_branch: { type: 'bool', dims: [1], data: Uint8Array.of(0) }, ...empty }, ['logits']);
        const all = out.logits!.data as Float32Array;
        logits.push(all.slice(all.length - all.length / sequence.length));
      }
      search.step(logits);
    }
    const s = scheduler();
    const [beamed, plain] = await Promise.all([s.submit({ encoderStates: states[0]!, maxNewTokens: 6, beams }), s.submit({ encoderStates: states[1]!, maxNewTokens: 4 })]);
    assert.deepEqual(beamed!.tokens, search.best().tokens);
    assert.deepEqual(plain, await scheduler().submit({ encoderStates: states[1]!, maxNewTokens: 4 }), 'the plain row beside the beams decodes as alone');
    assert.equal(s.stats.stepRows[1], 4, 'three beams and the plain row share the second call');
  });

  it('holds a new cohort for a request still being encoded, up to its bound', async () => {
    const s = scheduler({ maxFormingMs: 60_000 });
    const arrived = s.expect();
    const first = s.submit({ encoderStates: states[0]!, maxNewTokens: 3 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(s.stats.stepRows, [], 'the cohort waits for the expected request');
    const second = s.submit({ encoderStates: states[1]!, maxNewTokens: 3 });
    arrived();
    await Promise.all([first, second]);
    assert.deepEqual(s.stats.stepRows, [2, 2, 2], 'the late request shared every step');

    const bounded = scheduler({ maxFormingMs: 20 });
    const never = bounded.expect();
    await bounded.submit({ encoderStates: states[0]!, maxNewTokens: 2 });
    never();
    assert.deepEqual(bounded.stats.stepRows, [1, 1], 'past the bound the cohort starts without it');
  });

  it('learns what a row\'s cache holds, reports it, and bounds it: past the bound requests wait, and one row too big is refused', async () => {
    const sizer = new CacheSizer();
    const reported: number[] = [];
    const learner = scheduler({}, { cacheSizer: sizer, events: { onCacheBytes: (bytes) => reported.push(bytes) } });
    await learner.submit({ encoderStates: states[0]!, maxNewTokens: 3 });
    // The tiny decoder: 2 layers × key and value × 2 heads × 16 dims, float32, per position; and the kept encoder states.
    const perToken = 2 * 2 * 2 * 16 * 4;
    const kept = states[0]!.data.byteLength;
    assert.deepEqual(reported, [kept + perToken, kept + 2 * perToken, kept + 3 * perToken, 0], 'after each step, then freed');
    assert.equal(sizer.rowBytes(10), kept + 10 * perToken);

    const bounded = scheduler({ maxCacheBytes: 2 * sizer.rowBytes(4)! }, { cacheSizer: sizer });
    const admitted = [0, 1].map((i) => bounded.submit({ encoderStates: states[i]!, maxNewTokens: 4 }));
    const waiting = bounded.submit({ encoderStates: states[2]!, maxNewTokens: 4 });
    assert.deepEqual([bounded.stats.activeRows, bounded.stats.queued, bounded.stats.reservedCacheBytes], [2, 1, 2 * sizer.rowBytes(4)!]);
    await Promise.all([...admitted, waiting]);
    assert.deepEqual([bounded.stats.activeRows, bounded.stats.reservedCacheBytes, bounded.stats.cacheBytes], [0, 0, 0]);
    await assert.rejects(bounded.submit({ encoderStates: states[0]!, maxNewTokens: 100 }), { code: 'invalid_request', message: /MiB of decoder cache/ });
  });
});
