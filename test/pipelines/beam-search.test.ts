/**
 * Beam search against references on a toy decoder (logits a fixed function of the sequence):
 * one beam decodes greedily; enough beams to keep every sequence find the best-scoring one an
 * exhaustive search finds, for several length penalties and with the score rules.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BeamSearch } from '../../src/pipelines/generation/beam-search.js';
import { processLogits, type ScoreRules } from '../../src/pipelines/generation/logits-processors.js';
import { createSampler } from '../../src/pipelines/generation/sampling.js';

const PREFIX = [9];

/** Logits for the next token after `sequence`, a deterministic function of it (vocabulary `vocab`). */
function toyLogits(sequence: readonly number[], vocab: number): Float32Array {
  let h = 2166136261;
  for (const token of sequence) h = Math.imul(h ^ (token + 7), 16777619);
  return Float32Array.from({ length: vocab }, (_, i) => Math.sin(h * 0.0001 + i * 1.7) * 2);
}

function runBeams(vocab: number, eos: number, maxNewTokens: number, numBeams: number, lengthPenalty: number, rules: ScoreRules = {}, earlyStopping = true) {
  const search = new BeamSearch({ numBeams, lengthPenalty, earlyStopping }, rules, [eos], PREFIX, maxNewTokens);
  while (!search.isDone) search.step(search.beams.map((beam) => toyLogits([...PREFIX, ...beam.tokens], vocab)));
  return search.best();
}

/** Every finished sequence (ended by eos, or at the length limit) with its normalised score; the best. */
function exhaustive(vocab: number, eos: number, maxNewTokens: number, lengthPenalty: number, rules: ScoreRules = {}) {
  let best = { tokens: [] as number[], score: -Infinity };
  const visit = (tokens: number[], sum: number) => {
    const scores = processLogits(toyLogits([...PREFIX, ...tokens], vocab), { sequence: [...PREFIX, ...tokens], generated: tokens.length }, rules, [eos]);
    const max = Math.max(...scores);
    const logSum = max + Math.log(scores.reduce((s, v) => s + Math.exp(v - max), 0));
    for (let token = 0; token < vocab; token++) {
      const total = sum + scores[token]! - logSum;
      if (total === -Infinity) continue;
      const length = tokens.length + 1;
      if (token === eos || length === maxNewTokens) {
        const finished = token === eos ? tokens : [...tokens, token];
        const score = total / length ** lengthPenalty;
        if (score > best.score) best = { tokens: finished, score };
      } else {
        visit([...tokens, token], total);
      }
    }
  };
  visit([], 0);
  return best;
}

describe('beam search', () => {
  it('with one beam decodes what greedy decoding does', () => {
    for (const rules of [{}, { repetitionPenalty: 1.3, noRepeatNgramSize: 2 }, { minNewTokens: 4 }]) {
      const vocab = 12;
      const eos = 11;
      const sampler = createSampler(rules, [eos], PREFIX);
      const greedy: number[] = [];
      while (greedy.length < 8) {
        const token = sampler.next(toyLogits([...PREFIX, ...greedy], vocab), greedy);
        if (token === eos) break;
        greedy.push(token);
      }
      assert.deepEqual(runBeams(vocab, eos, 8, 1, 1, rules, false).tokens, greedy, JSON.stringify(rules));
    }
  });

  it('with a beam for every sequence finds what an exhaustive search finds, for any length penalty', () => {
    for (const lengthPenalty of [0, 1, 2, -1]) {
      for (const rules of [{}, { minNewTokens: 2 }, { repetitionPenalty: 2 }]) {
        const expected = exhaustive(4, 3, 4, lengthPenalty, rules);
        const found = runBeams(4, 3, 4, 4 ** 4, lengthPenalty, rules);
        assert.deepEqual(found.tokens, expected.tokens, `length penalty ${lengthPenalty}, ${JSON.stringify(rules)}`);
        assert.ok(Math.abs(found.score - expected.score) < 1e-9);
      }
    }
  });

  it('keeps its beams ordered with their parents, and finds better than greedy with a few beams here', () => {
    const search = new BeamSearch({ numBeams: 3 }, {}, [7], PREFIX, 6);
    const { parents } = search.step([toyLogits(PREFIX, 8)]);
    assert.deepEqual(parents, [0, 0, 0], 'the first step expands the one start beam');
    assert.equal(search.beams.length, 3);
    assert.ok(search.beams[0]!.score >= search.beams[1]!.score && search.beams[1]!.score >= search.beams[2]!.score);
    const greedy = runBeams(8, 7, 6, 1, 1);
    const beams = runBeams(8, 7, 6, 3, 1);
    assert.ok(beams.score >= greedy.score, `3 beams ${beams.score} vs greedy ${greedy.score}`);
  });
});
