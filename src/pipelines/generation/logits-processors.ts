/**
 * The rules that change a row's scores before a token is chosen (greedy, sampled or by beams),
 * as transformers' logits processors define them:
 *   - `repetitionPenalty` p (CTRL): every token already in the sequence (start token and prompt
 *     included) has its logit divided by p where positive, multiplied by p where negative;
 *   - `noRepeatNgramSize` n: a token that would repeat an n-gram already in the sequence is banned;
 *   - `minNewTokens`: end-of-sequence is banned until that many tokens were generated.
 *
 *   const scores = processLogits(logits, { sequence, generated }, { repetitionPenalty: 1.2 }, [eos]);
 */
export interface ScoreRules {
  /** 1 (or unset): none. */
  repetitionPenalty?: number;
  /** 0 (or unset): none. */
  noRepeatNgramSize?: number;
  /** End-of-sequence is suppressed until this many tokens were generated. */
  minNewTokens?: number;
}

/** The scores after the rules: a copy when a rule applies, else the logits themselves. */
export function processLogits(logits: Float32Array, history: { sequence: readonly number[]; generated: number }, rules: ScoreRules, eosIds: readonly number[]): Float32Array {
  const { repetitionPenalty = 1, noRepeatNgramSize = 0, minNewTokens = 0 } = rules;
  const banned = [...(history.generated < minNewTokens ? eosIds : []), ...(noRepeatNgramSize > 0 ? repeatedNgramEnds(history.sequence, noRepeatNgramSize) : [])];
  if (repetitionPenalty === 1 && banned.length === 0) return logits;
  const scores = logits.slice();
  if (repetitionPenalty !== 1) {
    for (const token of new Set(history.sequence)) {
      const score = scores[token]!;
      scores[token] = score > 0 ? score / repetitionPenalty : score * repetitionPenalty;
    }
  }
  for (const token of banned) scores[token] = -Infinity;
  return scores;
}

/** Tokens that would complete an n-gram the sequence already holds (its last n − 1 tokens seen before, followed by them). */
export function repeatedNgramEnds(sequence: readonly number[], n: number): number[] {
  if (sequence.length + 1 < n) return [];
  const tail = sequence.slice(sequence.length - (n - 1));
  const ends: number[] = [];
  for (let start = 0; start + n <= sequence.length; start++) {
    if (tail.every((token, i) => sequence[start + i] === token)) ends.push(sequence[start + n - 1]!);
  }
  return ends;
}
