/**
 * Continuous batching on the generated BLIP captioner, with the real worker pool: rows with
 * prompts of different lengths share steps; requests that join a running batch and rows that
 * leave it mid-flight (cutting padding no one needs) each get the tokens they get alone; the
 * cache is learned, reported and freed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { BLIP_TINY, BLIP_TOKENS, blipCacheNames } from '../../src/models/generator/blip-model.js';
import type { PlainTensor } from '../../src/models/session/tensor.js';
import type { WorkerPool } from '../../src/models/session/worker-pool.js';
import { BeamSearch } from '../../src/pipelines/generation/beam-search.js';
import { CacheSizer } from '../../src/pipelines/generation/cache-sizer.js';
import type { GenerationEvents, SchedulerLimits, SequenceRequest, SequenceResult } from '../../src/pipelines/generation/decode-scheduler.js';
import { MaskedScheduler } from '../../src/pipelines/generation/masked-scheduler.js';
import { blipPool } from '../helpers/captioner-pool.js';

const LAYERS = BLIP_TINY.text.numLayers;

describe('masked decode scheduler (continuous batching)', () => {
  let pool: WorkerPool;
  let states: PlainTensor[];
  const scheduler = (limits: Partial<SchedulerLimits> = {}, options: { cacheSizer?: CacheSizer; events?: GenerationEvents } = {}) =>
    new MaskedScheduler(
      {
        pool,
        prefillSession: 'prefill',
        stepSession: 'step',
        ...blipCacheNames(LAYERS),
        encoderInput: 'encoder_hidden_states',
        padTokenId: BLIP_TOKENS.pad,
        startTokenId: BLIP_TOKENS.bos,
        eosTokenIds: [BLIP_TOKENS.sep],
        instances: 1,
        ...(options.cacheSizer && { cacheSizer: options.cacheSizer }),
      },
      { maxActiveRows: 16, maxCohortRows: 8, maxQueued: 16, ...limits },
      options.events,
    );
  /** Each request decoded on its own. */
  const alone = async (requests: SequenceRequest[]): Promise<SequenceResult[]> => {
    const results = [];
    for (const request of requests) results.push(await scheduler().submit(request));
    return results;
  };

  before(async () => {
    ({ pool, imageTokens: states } = await blipPool(['chelsea.png', 'rocket.jpg', 'coffee.png']));
  });
  after(() => pool?.close());

  it('decodes rows with prompts of different lengths in one batch, each as it decodes alone', async () => {
    const requests: SequenceRequest[] = [
      { encoderStates: states[0]!, maxNewTokens: 6 },
      { encoderStates: states[1]!, promptIds: [1100, 1200, 1300], maxNewTokens: 6 },
      { encoderStates: states[2]!, promptIds: [1400], maxNewTokens: 6 },
    ];
    const expected = await alone(requests);
    assert.notDeepEqual(expected[0]!.tokens, expected[1]!.tokens, 'the rows decode differently');
    const s = scheduler();
    assert.deepEqual(await Promise.all(requests.map((r) => s.submit(r))), expected);
    assert.deepEqual(s.stats.stepRows, [3, 3, 3, 3, 3, 3], 'one prefill of three rows, then five steps of three');
  });

  it('splices in requests that arrive mid-flight and lets rows leave, each getting the tokens it gets alone', async () => {
    const long: SequenceRequest = { encoderStates: states[0]!, promptIds: [1100, 1200, 1300, 1400, 1500], maxNewTokens: 3 };
    const steady: SequenceRequest = { encoderStates: states[1]!, maxNewTokens: 10 };
    const late: SequenceRequest[] = [
      { encoderStates: states[2]!, promptIds: [1600, 1700], maxNewTokens: 4 },
      { encoderStates: states[0]!, maxNewTokens: 5 },
    ];
    const expected = await alone([long, steady, ...late]);
    const s = scheduler();
    let joined: Promise<SequenceResult>[] = [];
    let seen = 0;
    // The late pair arrives once the batch has decoded four tokens of the steady row.
    const onToken = () => void (++seen === 4 && (joined = late.map((r) => s.submit(r))));
    const first = await Promise.all([s.submit(long), s.submit({ ...steady, onToken })]);
    const results = [...first, ...(await Promise.all(joined))];
    assert.deepEqual(results.map((r) => r.tokens), expected.map((r) => r.tokens));
    // Prefill of two, steps of two; the long row leaves (its padding is cut); the late pair prefills and joins.
    assert.ok(s.stats.stepRows.includes(3), `the late rows shared steps with the steady one: ${s.stats.stepRows}`);
    assert.deepEqual([s.stats.activeRows, s.stats.cohorts], [0, 0]);
  });

  /** Beam search with every beam's logits computed from scratch (the whole sequence through the first-step graph). */
  async function uncachedBeams(request: SequenceRequest): Promise<number[]> {
    const prefix = [BLIP_TOKENS.bos, ...(request.promptIds ?? [])];
    const search = new BeamSearch(request.beams!, request.sampling ?? {}, [BLIP_TOKENS.sep], prefix, request.maxNewTokens);
    const states = request.encoderStates!;
    const tokens = states.dims[1]!;
    while (!search.isDone) {
      const logits = [];
      for (const beam of search.beams) {
        const sequence = [...prefix, ...beam.tokens];
        const ids = (values: number[]) => ({ type: 'int64' as const, dims: [1, values.length], data: BigInt64Array.from(values.map(BigInt)) });
        const out = await pool.run('prefill', { input_ids: ids(sequence), attention_mask: ids(sequence.map(() => 1)), position_ids: ids(sequence.map((_, i) => i)), encoder_hidden_states: { ...states, data: states.data.slice() }, encoder_attention_mask: ids(Array(tokens).fill(1)) }, ['logits']);
        const all = out.logits!.data as Float32Array;
        const vocab = all.length / sequence.length;
        logits.push(all.slice((sequence.length - 1) * vocab));
      }
      search.step(logits);
    }
    return search.best().tokens;
  }

  it('runs beam search in the batch (beams reorder and share their parents\' cache rows) beside other rows joining and leaving', async () => {
    const beamed: SequenceRequest = { encoderStates: states[0]!, promptIds: [1100], maxNewTokens: 7, beams: { numBeams: 3, lengthPenalty: 1 } };
    const expectedBeams = await uncachedBeams(beamed);
    const plain: SequenceRequest = { encoderStates: states[1]!, maxNewTokens: 4 };
    const late: SequenceRequest = { encoderStates: states[2]!, promptIds: [1200, 1300], maxNewTokens: 6, beams: { numBeams: 2, earlyStopping: true } };
    const [expectedPlain, expectedLate] = [(await alone([plain]))[0]!, await uncachedBeams(late)];
    const s = scheduler();
    let joined: Promise<SequenceResult> | undefined;
    let seen = 0;
    const results = await Promise.all([s.submit(beamed), s.submit({ ...plain, onToken: () => void (++seen === 2 && (joined = s.submit(late))) })]);
    assert.deepEqual(results[0]!.tokens, expectedBeams);
    assert.deepEqual(results[1], expectedPlain);
    assert.deepEqual((await joined!).tokens, expectedLate);
    assert.ok(s.stats.stepRows.includes(4), `three beams and the plain row shared steps: ${s.stats.stepRows}`);
    assert.deepEqual([s.stats.activeRows, s.stats.cohorts], [0, 0]);
  });

  it('applies the score rules to each row: no repeated token with no_repeat_ngram_size 1', async () => {
    const [plain, unrepeated] = await alone([
      { encoderStates: states[0]!, maxNewTokens: 30, sampling: { minNewTokens: 30 } },
      { encoderStates: states[0]!, maxNewTokens: 30, sampling: { minNewTokens: 30, noRepeatNgramSize: 1 } },
    ]);
    assert.ok(new Set(plain!.tokens).size < 30, 'greedy decoding of random weights repeats tokens');
    assert.equal(new Set([BLIP_TOKENS.bos, ...unrepeated!.tokens]).size, 31, 'no token twice, the start token included');
  });

  it('answers every row with an error when its worker dies mid-batch, and decodes again once it is replaced', async () => {
    const s = scheduler();
    const first = s.submit({ encoderStates: states[0]!, maxNewTokens: 20, onToken: () => void pool.injectCrash(0) });
    const second = s.submit({ encoderStates: states[1]!, promptIds: [1100], maxNewTokens: 20, beams: { numBeams: 2 } });
    await assert.rejects(first);
    await assert.rejects(second);
    assert.deepEqual([s.stats.activeRows, s.stats.cohorts], [0, 0]);
    for (let i = 0; i < 100 && pool.replacements === 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    let answered: SequenceResult | undefined;
    for (let i = 0; i < 50 && !answered; i++) answered = await scheduler().submit({ encoderStates: states[0]!, maxNewTokens: 3 }).catch(() => undefined);
    assert.equal(answered?.tokens.length, 3);
  });

  it('learns the cache per row, reports it and frees it; a caller that goes away frees its row', async () => {
    const sizer = new CacheSizer();
    const reported: number[] = [];
    const s = scheduler({}, { cacheSizer: sizer, events: { onCacheBytes: (bytes) => reported.push(bytes) } });
    await s.submit({ encoderStates: states[0]!, maxNewTokens: 3 });
    const { hiddenSize } = BLIP_TINY.text;
    // Per position: 2 layers × key and value × the hidden size, float32; kept: the cross-attention caches over 577 image tokens.
    assert.equal(sizer.rowBytes(10), LAYERS * 2 * hiddenSize * 4 * (577 + 10));
    assert.equal(reported.at(-1), 0, 'freed at the end');
    assert.ok(reported.some((bytes) => bytes > 0));

    const controller = new AbortController();
    const going = s.submit({ encoderStates: states[1]!, maxNewTokens: 200, signal: controller.signal, onToken: () => controller.abort() });
    assert.equal((await going).finishReason, 'cancelled');
    assert.deepEqual([s.stats.activeRows, s.stats.cohorts], [0, 0]);
  });
});
