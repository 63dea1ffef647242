/**
 * Choosing the next token from a row of logits: greedy (temperature 0) or sampling with
 * temperature, top-k and top-p (nucleus), reproducible with a seed, after the score rules of
 * logits-processors.ts (repetition penalty, no-repeat n-grams, min tokens). The same rules as
 * transformers' logits processors and warpers, in their order.
 *
 *   const sampler = createSampler({ temperature: 0.7, topP: 0.9, seed: 42 }, [eos], [start]);
 *   const token = sampler.next(logits, generatedSoFar);
 */
import { SeededRandom } from '../../models/generator/seeded-random.js';
import { processLogits, type ScoreRules } from './logits-processors.js';

export interface SamplingOptions extends ScoreRules {
  /** 0 (the default) decodes greedily. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or unset: all). */
  topK?: number;
  /** Keep the most likely tokens whose probabilities add up to p (1 or unset: all). */
  topP?: number;
  /** Makes sampling reproducible; unset: a fresh seed per sequence. */
  seed?: number;
}

export interface Sampler {
  /** The next token after `generated` (the tokens chosen so far). */
  next(logits: Float32Array, generated: readonly number[]): number;
}

/** `prefix`: what the sequence starts with (start token, prompt), seen by the repetition rules. */
export function createSampler(options: SamplingOptions, eosIds: readonly number[], prefix: readonly number[] = []): Sampler {
  const { temperature = 0, topK = 0, topP = 1 } = options;
  const rng = new SeededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  return {
    next(logits, generated) {
      const scores = processLogits(logits, { sequence: [...prefix, ...generated], generated: generated.length }, options, eosIds);
      if (temperature === 0) return argmax(scores);
      return draw(candidates(scores, temperature, topK, topP), rng.next());
    },
  };
}

export function argmax(scores: Float32Array): number {
  let best = 0;
  for (let i = 1; i < scores.length; i++) if (scores[i]! > scores[best]!) best = i;
  return best;
}

interface Candidate {
  token: number;
  probability: number;
}

/** The tokens left after temperature, top-k and top-p, with renormalised probabilities (banned ones, at −∞, never). */
function candidates(scores: Float32Array, temperature: number, topK: number, topP: number): Candidate[] {
  const scaled: { token: number; logit: number }[] = [];
  for (let i = 0; i < scores.length; i++) if (scores[i] !== -Infinity) scaled.push({ token: i, logit: scores[i]! / temperature });
  scaled.sort((a, b) => b.logit - a.logit);
  const kept = topK > 0 ? scaled.slice(0, topK) : scaled;
  const max = kept[0]!.logit;
  const weights = kept.map((c) => Math.exp(c.logit - max));
  const total = weights.reduce((a, b) => a + b, 0);
  const ranked = kept.map((c, i) => ({ token: c.token, probability: weights[i]! / total }));
  // Nucleus: the smallest prefix whose mass reaches topP (always at least one token).
  let mass = 0;
  const nucleus: Candidate[] = [];
  for (const c of ranked) {
    nucleus.push(c);
    mass += c.probability;
    if (mass >= topP) break;
  }
  return nucleus.map((c) => ({ token: c.token, probability: c.probability / mass }));
}

function draw(choices: Candidate[], uniform: number): number {
  let cumulative = 0;
  for (const c of choices) {
    cumulative += c.probability;
    if (uniform < cumulative) return c.token;
  }
  return choices[choices.length - 1]!.token;
}
