/** Token choice (greedy, sampling, seeds, min tokens) and streaming text (multi-byte characters, stop strings). */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { AutoTokenizer, env as transformersEnv } from '@huggingface/transformers';
import { IncrementalText } from '../../src/pipelines/generation/incremental-text.js';
import { processLogits, repeatedNgramEnds } from '../../src/pipelines/generation/logits-processors.js';
import { createSampler } from '../../src/pipelines/generation/sampling.js';
import { tinyVitGpt2Dir } from '../helpers/test-models.js';

const EOS = 4;
const logits = Float32Array.from([0.5, 2, 1, -1, 3]); // EOS (4) is the most likely

describe('token choice', () => {
  it('greedy takes the most likely token, and holds end-of-sequence back until min_new_tokens', () => {
    const sampler = createSampler({ minNewTokens: 2 }, [EOS]);
    assert.equal(sampler.next(logits, []), 1, 'EOS suppressed at the first token');
    assert.equal(sampler.next(logits, [1]), 1);
    assert.equal(sampler.next(logits, [1, 1]), EOS, 'allowed from the third');
  });

  it('is reproducible with a seed, and different seeds sample differently', () => {
    const flat = Float32Array.from({ length: 50 }, (_, i) => Math.sin(i));
    const run = (seed: number) => {
      const sampler = createSampler({ temperature: 1, seed }, [EOS]);
      return Array.from({ length: 40 }, (_, i) => sampler.next(flat, Array(i + 10).fill(0)));
    };
    assert.deepEqual(run(7), run(7));
    assert.notDeepEqual(run(7), run(8));
  });

  it('samples in proportion to softmax(logits / temperature)', () => {
    const two = Float32Array.from([0, Math.log(3)]); // p = 0.25, 0.75
    const sampler = createSampler({ temperature: 1, seed: 1 }, [99]);
    const draws = Array.from({ length: 4000 }, () => sampler.next(two, []));
    const share = draws.filter((t) => t === 1).length / draws.length;
    assert.ok(Math.abs(share - 0.75) < 0.03, `share of token 1: ${share}`);
    const cold = createSampler({ temperature: 0.25, seed: 1 }, [99]); // p ∝ 3⁴: 0.988
    const coldShare = Array.from({ length: 2000 }, () => cold.next(two, [])).filter((t) => t === 1).length / 2000;
    assert.ok(coldShare > 0.97, `a low temperature sharpens: ${coldShare}`);
  });

  it('top-k and top-p keep only the most likely tokens', () => {
    const topK = createSampler({ temperature: 1, topK: 2, seed: 3 }, [99]);
    const kDraws = new Set(Array.from({ length: 500 }, () => topK.next(logits, [])));
    assert.deepEqual([...kDraws].sort(), [1, 4]);
    const topP = createSampler({ temperature: 1, topP: 0.01, seed: 3 }, [99]);
    assert.deepEqual(new Set(Array.from({ length: 200 }, () => topP.next(logits, []))), new Set([4]));
    const suppressed = createSampler({ temperature: 1, topK: 1, minNewTokens: 5, seed: 3 }, [EOS]);
    assert.equal(suppressed.next(logits, []), 1, 'EOS removed before top-k');
  });
});

describe('score rules (transformers\' logits processors)', () => {
  it('repetition penalty divides the positive and multiplies the negative logits of tokens already in the sequence', () => {
    const scores = processLogits(Float32Array.from([2, -1, 0.5, 3]), { sequence: [0, 1, 1], generated: 2 }, { repetitionPenalty: 2 }, [EOS]);
    assert.deepEqual([...scores], [1, -2, 0.5, 3]);
  });

  it('no-repeat n-grams ban the tokens that would complete an n-gram the sequence holds', () => {
    assert.deepEqual(repeatedNgramEnds([5, 7, 5], 2), [7]);
    assert.deepEqual(repeatedNgramEnds([1, 2, 3, 1, 2], 3), [3]);
    assert.deepEqual(repeatedNgramEnds([1, 2, 3], 3), [], 'the tail (2, 3) was never seen before');
    const scores = processLogits(Float32Array.from([0, 1, 2, 3]), { sequence: [1, 2, 1], generated: 3 }, { noRepeatNgramSize: 2 }, [EOS]);
    assert.deepEqual([...scores], [0, 1, -Infinity, 3]);
  });

  it('the sampler applies them with the prefix: greedy avoids a penalised token and a repeated bigram', () => {
    const logits = Float32Array.from([0, 1, 3, 2.5, -1]); // 2 is the most likely
    assert.equal(createSampler({}, [EOS], [2]).next(logits, []), 2, 'no rule: greedy');
    assert.equal(createSampler({ repetitionPenalty: 1.5 }, [EOS], [2]).next(logits, []), 3, 'the start token 2 is penalised: 3 / 1.5 = 2 < 2.5');
    assert.equal(createSampler({ noRepeatNgramSize: 2 }, [EOS], [3, 2, 1]).next(logits, [3]), 3, '(3, 2) was seen: 2 is banned after 3');
  });
});

describe('streaming text', () => {
  it('yields each token\'s text, holding back a character until all its bytes arrived, and stops at a stop string', async () => {
    const dir = await tinyVitGpt2Dir();
    transformersEnv.allowRemoteModels = false;
    transformersEnv.localModelPath = path.dirname(dir);
    const tokenizer = await AutoTokenizer.from_pretrained(path.basename(dir));
    const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: true, clean_up_tokenization_spaces: false });
    const caption = 'a café in 東京 at night. Then more';
    const ids = tokenizer.encode(caption, { add_special_tokens: false });
    const text = new IncrementalText(decode, ['. ']);
    const deltas: string[] = [];
    for (const id of ids) {
      const { delta, stopped } = text.push(id);
      deltas.push(delta);
      if (stopped) break;
    }
    assert.ok(deltas.every((d) => !d.includes('\uFFFD')), `no broken character streamed: ${JSON.stringify(deltas)}`);
    assert.ok(deltas.some((d) => d === ''), 'a multi-byte character held at least one token back');
    assert.equal(deltas.join(''), 'a café in 東京 at night');
    assert.equal(text.text, 'a café in 東京 at night');
    assert.ok(text.stopped);
    assert.deepEqual(text.push(ids[0]!), { delta: '', stopped: true }, 'nothing after the stop');
  });
});
