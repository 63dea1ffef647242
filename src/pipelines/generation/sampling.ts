/**
 * Choosing the next token from a row of logits: greedy (temperature 0) or sampling with
 * temperature, top-k and top-p (nucleus), reproducible with a seed; end-of-sequence suppressed
 * until `minNewTokens`. The same rules as transformers' logits processors, in their order:
 * min-length, temperature, top-k, top-p.
 *
 *   const sampler = createSampler({ temperature: 0.7, topP: 0.9, seed: 42 }, eosId);
 *   const token = sampler.next(logits, generatedSoFar);
 */
import { SeededRandom } from '../../models/generator/seeded-random.js';

export interface SamplingOptions {
  /** 0 (the default) decodes greedily. */
  temperature?: number;
  /** Keep only the k most likely tokens (0 or unset: all). */
  topK?: number;
  /** Keep the most likely tokens whose probabilities add up to p (1 or unset: all). */
  topP?: number;
  /** Makes sampling reproducible; unset: a fresh seed per sequence. */
  seed?: number;
  /** End-of-sequence is suppressed until this many tokens were generated. */
  minNewTokens?: number;
}

export interface Sampler {
  next(logits: Float32Array, generated: number): number;
}

export function createSampler(options: SamplingOptions, eosIds: readonly number[]): Sampler {
  const { temperature = 0, topK = 0, topP = 1, minNewTokens = 0 } = options;
  const rng = new SeededRandom(options.seed ?? Math.floor(Math.random() * 2 ** 31));
  return {
    next(logits, generated) {
      const suppressEos = generated < minNewTokens;
      if (temperature === 0) return argmax(logits, suppressEos ? eosIds : []);
      return draw(candidates(logits, temperature, topK, topP, suppressEos ? eosIds : []), rng.next());
    },
  };
}

function argmax(logits: Float32Array, banned: readonly number[]): number {
  let best = -1;
  for (let i = 0; i < logits.length; i++) {
    if (banned.includes(i)) continue;
    if (best < 0 || logits[i]! > logits[best]!) best = i;
  }
  return best;
}

interface Candidate {
  token: number;
  probability: number;
}

/** The tokens left after temperature, top-k and top-p, with renormalised probabilities. */
function candidates(logits: Float32Array, temperature: number, topK: number, topP: number, banned: readonly number[]): Candidate[] {
  const scaled: { token: number; logit: number }[] = [];
  for (let i = 0; i < logits.length; i++) if (!banned.includes(i)) scaled.push({ token: i, logit: logits[i]! / temperature });
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
