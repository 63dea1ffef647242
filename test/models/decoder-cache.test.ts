/**
 * Decoder steps whose KV cache stays in the session worker (WorkerPool.step), on the generated
 * ViT-GPT2 captioner: only the last position's logits come back, the tokens equal decoding
 * without a cache, rows can leave a group mid-way, and a released cache is gone.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { NamedTensors, PlainTensor } from '../../src/models/session/tensor.js';
import type { WorkerPool } from '../../src/models/session/worker-pool.js';
import type { CacheStep } from '../../src/models/session/worker-protocol.js';
import { captionerPool, CAPTIONER_PAST_TO_PRESENT } from '../helpers/captioner-pool.js';

const EOS = 50256;
const VOCAB = 50257;
const STEPS = 6;
const PAST_TO_PRESENT = CAPTIONER_PAST_TO_PRESENT;

const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));
const ids = (tokens: number[][]): PlainTensor => ({ type: 'int64', dims: [tokens.length, tokens[0]!.length], data: BigInt64Array.from(tokens.flat().map(BigInt)) });
const flag = (value: boolean): PlainTensor => ({ type: 'bool', dims: [1], data: Uint8Array.from([value ? 1 : 0]) });

describe('decoder caches kept in the session worker', () => {
  let pool: WorkerPool;
  /** The same decoder with its encoder projections split out (computed once, kept beside the cache). */
  let splitPool: WorkerPool;
  let imageTokens: PlainTensor;
  let rows: PlainTensor[];

  before(async () => {
    ({ pool, imageTokens: rows } = await captionerPool(['chelsea.png', 'rocket.jpg']));
    ({ pool: splitPool } = await captionerPool([], { splitProjections: true }));
    // Both photos as one [2, tokens, hidden] batch.
    const size = rows[0]!.data.length;
    const data = new Float32Array(size * 2);
    rows.forEach((row, i) => data.set(row.data as Float32Array, i * size));
    imageTokens = { type: 'float32', dims: [2, ...rows[0]!.dims.slice(1)], data };
  });
  after(() => Promise.all([pool?.close(), splitPool?.close()]));

  const copy = (t: PlainTensor): PlainTensor => ({ ...t, data: t.data.slice() });
  const feeds = (tokens: number[][], states: PlainTensor, cached: boolean): NamedTensors => ({ input_ids: ids(tokens), encoder_hidden_states: copy(states), use_cache_branch: flag(cached) });

  /**
   * Greedy decoding with the worker-side cache; `leaveAfter` drops row 0 after that many steps.
   * `split`: on the split pool, the encoder states sent once and kept, the projections precomputed.
   */
  async function decodeCached(states: PlainTensor, batch: number, cacheId: string, leaveAfter?: number, split = false): Promise<number[][]> {
    const on = split ? splitPool : pool;
    const kept = split ? { keepInputs: ['encoder_hidden_states'], precompute: 'decoder/encoder_projections' } : {};
    let next = Array<number>(batch).fill(EOS);
    let live = Array.from({ length: batch }, (_, i) => i);
    const tokens: number[][] = Array.from({ length: batch }, () => []);
    let instance: number | undefined;
    let statesNow = states;
    for (let step = 0; step < STEPS; step++) {
      let keepRows: number[] | undefined;
      if (leaveAfter !== undefined && step === leaveAfter) {
        keepRows = [1];
        live = [1];
        next = [next[1]!];
        const rowSize = states.data.length / 2;
        statesNow = { ...states, dims: [1, ...states.dims.slice(1)], data: (states.data as Float32Array).slice(rowSize) };
      }
      const cache: CacheStep = { id: cacheId, pastToPresent: PAST_TO_PRESENT, start: step === 0, lastPositionOf: ['logits'], ...kept, ...(keepRows && { keepRows }) };
      const stepFeeds = feeds(next.map((t) => [t]), statesNow, step > 0);
      if (split && step > 0) delete stepFeeds.encoder_hidden_states;
      const { outputs, instance: used } = await on.step('decoder', stepFeeds, ['logits'], cache, instance);
      instance ??= used;
      assert.equal(used, instance, 'every step runs where the cache is');
      assert.deepEqual(Object.keys(outputs), ['logits'], 'no cache tensor leaves the worker');
      assert.deepEqual(outputs.logits!.dims, [live.length, VOCAB], 'only the last position');
      const logits = outputs.logits!.data as Float32Array;
      next = live.map((_, i) => argmax(logits.subarray(i * VOCAB, (i + 1) * VOCAB)));
      live.forEach((row, i) => tokens[row]!.push(next[i]!));
    }
    on.releaseCache(instance!, cacheId);
    return tokens;
  }

  /** Without a cache: the whole sequence so far at every step. */
  async function decodeUncached(states: PlainTensor): Promise<number[]> {
    const sequence = [EOS];
    const empty = Object.fromEntries(Object.keys(PAST_TO_PRESENT).map((name) => [name, { type: 'float32' as const, dims: [1, 2, 0, 16], data: new Float32Array(0) }]));
    for (let step = 0; step < STEPS; step++) {
      const out = await pool.run('decoder', { ...feeds([sequence], states, false), ...empty }, ['logits']);
      const logits = out.logits!.data as Float32Array;
      sequence.push(argmax(logits.subarray((sequence.length - 1) * VOCAB, sequence.length * VOCAB)));
    }
    return sequence.slice(1);
  }

  it('decodes with the cache in the worker the tokens decoding without a cache gives', async () => {
    const [cached] = await decodeCached(rows[0]!, 1, 'alone');
    assert.deepEqual(cached, await decodeUncached(rows[0]!));
  });

  it('lets a row leave its group mid-way: the other row goes on as if alone', async () => {
    const together = await decodeCached(imageTokens, 2, 'pair', 3);
    const alone = await decodeUncached(rows[1]!);
    assert.deepEqual(together[1], alone);
    assert.equal(together[0]!.length, 3, 'row 0 stopped after three tokens');
  });

  it('gives the same tokens with the encoder projections split out, computed once and cut when a row leaves', async () => {
    assert.ok(splitPool.sessions['decoder/encoder_projections'], 'the projections load as a session of their own');
    assert.ok(splitPool.sessions.decoder!.inputs.some((input) => input.name === 'encoder_projection.0'), 'the decoder reads them');
    assert.deepEqual(await decodeCached(rows[0]!, 1, 'split-alone', undefined, true), await decodeCached(rows[0]!, 1, 'whole-alone'));
    assert.notDeepEqual(await decodeUncached(rows[0]!), await decodeUncached(rows[1]!), 'the photos decode differently, so a wrong cut would show');
    const together = await decodeCached(imageTokens, 2, 'split-pair', 3, true);
    assert.deepEqual(together[1], await decodeUncached(rows[1]!), 'the row left alone reads its own projections');
    assert.deepEqual(together[0], (await decodeCached(imageTokens, 2, 'whole-pair', 3))[0]);
  });

  it('runs later steps only where the cache is, and a released cache is gone', async () => {
    const first = await pool.step('decoder', feeds([[EOS]], rows[0]!, false), ['logits'], { id: 'gone', pastToPresent: PAST_TO_PRESENT, start: true }, undefined);
    pool.releaseCache(first.instance, 'gone');
    await assert.rejects(
      pool.step('decoder', feeds([[EOS]], rows[0]!, true), ['logits'], { id: 'gone', pastToPresent: PAST_TO_PRESENT, start: false }, first.instance),
      /no decoder cache 'gone'/,
    );
    await assert.rejects(pool.step('decoder', feeds([[EOS]], rows[0]!, true), ['logits'], { id: 'x', pastToPresent: PAST_TO_PRESENT, start: false }), /name the instance/);
  });
});
