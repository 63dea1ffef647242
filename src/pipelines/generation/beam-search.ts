/**
 * Beam search over one sequence's beams, as transformers' BeamSearchScorer does it: each step
 * scores every beam's next tokens (log-softmax of the rule-processed logits, plus the beam's
 * score), walks the best 2 × beams candidates in order: an end-of-sequence among the best
 * `numBeams` finishes a hypothesis scored sum / generated_length^length_penalty, the others
 * become the next beams until there are `numBeams`. The search is done when `numBeams`
 * hypotheses are finished and (`earlyStopping`) at once, or (not) when no running beam can
 * still beat the worst of them; at `maxNewTokens` the running beams are finished as they are.
 *
 * The caller runs the decoder on the beams' rows and reorders its cache by `parents`:
 *
 *   const search = new BeamSearch({ numBeams: 3 }, rules, [eos], prefix, maxNewTokens);
 *   const { parents, done } = search.step(logitsPerBeam); // next beams = tokens of `search.beams`
 */
import { processLogits, type ScoreRules } from './logits-processors.js';

export interface BeamOptions {
  numBeams: number;
  /** The exponent of the generated length that divides a hypothesis' log-probability (1; above 0 favours longer). */
  lengthPenalty?: number;
  /** Stop as soon as `numBeams` hypotheses are finished (false: when no running beam can beat them). */
  earlyStopping?: boolean;
}

export interface Beam {
  tokens: number[];
  /** The sum of its tokens' log-probabilities. */
  score: number;
}

export interface Hypothesis {
  tokens: number[];
  /** Normalised: sum / generated_length^length_penalty. */
  score: number;
  finishReason: 'eos' | 'length';
}

export class BeamSearch {
  /** The running beams, in the order of the rows the caller decodes. */
  beams: Beam[] = [{ tokens: [], score: 0 }];
  private readonly finished: Hypothesis[] = [];
  private done = false;
  private readonly lengthPenalty: number;

  constructor(
    private readonly options: BeamOptions,
    private readonly rules: ScoreRules,
    private readonly eosIds: readonly number[],
    private readonly prefix: readonly number[],
    private readonly maxNewTokens: number,
  ) {
    if (options.numBeams < 1) throw new RangeError('numBeams must be at least 1');
    this.lengthPenalty = options.lengthPenalty ?? 1;
  }

  get isDone(): boolean {
    return this.done;
  }

  /**
   * One step: `logits[i]` are the next-token logits of `beams[i]`. Returns, for each new beam,
   * the index of the beam it extends (its cache row), and whether the search is over.
   */
  step(logits: readonly Float32Array[]): { parents: number[]; done: boolean } {
    if (this.done) throw new Error('the beam search is over');
    const { numBeams } = this.options;
    const generated = this.beams[0]!.tokens.length + 1; // counting the token chosen now
    const candidates = this.candidates(logits, 2 * numBeams);
    const next: Beam[] = [];
    const parents: number[] = [];
    for (const [rank, { beam, token, score }] of candidates.entries()) {
      if (this.eosIds.includes(token)) {
        if (rank < numBeams) this.addHypothesis(this.beams[beam]!.tokens, score, generated, 'eos');
        continue;
      }
      next.push({ tokens: [...this.beams[beam]!.tokens, token], score });
      parents.push(beam);
      if (next.length === numBeams) break;
    }
    this.beams = next;
    const best = candidates[0]?.score ?? -Infinity;
    if (this.saturated(best, generated)) this.done = true;
    else if (generated >= this.maxNewTokens) {
      for (const beam of this.beams) this.addHypothesis(beam.tokens, beam.score, generated, 'length');
      this.done = true;
    }
    return { parents, done: this.done };
  }

  /** The best finished hypothesis (once done). */
  best(): Hypothesis {
    const [best] = [...this.finished].sort((a, b) => b.score - a.score);
    if (!best) throw new Error('no hypothesis is finished yet');
    return best;
  }

  /** The best `count` (beam, token) continuations by total log-probability, best first (ties: lower beam, then lower token). */
  private candidates(logits: readonly Float32Array[], count: number): { beam: number; token: number; score: number }[] {
    const all: { beam: number; token: number; score: number }[] = [];
    logits.forEach((row, beam) => {
      const { tokens, score } = this.beams[beam]!;
      const logProbs = logSoftmax(processLogits(row, { sequence: [...this.prefix, ...tokens], generated: tokens.length }, this.rules, this.eosIds));
      for (let token = 0; token < logProbs.length; token++) {
        const total = score + logProbs[token]!;
        if (total === -Infinity) continue;
        if (all.length < count || total > all[all.length - 1]!.score) insertSorted(all, { beam, token, score: total }, count);
      }
    });
    return all;
  }

  private addHypothesis(tokens: number[], sum: number, generated: number, finishReason: Hypothesis['finishReason']): void {
    this.finished.push({ tokens: [...tokens], score: sum / generated ** this.lengthPenalty, finishReason });
    if (this.finished.length > this.options.numBeams) {
      this.finished.sort((a, b) => b.score - a.score);
      this.finished.length = this.options.numBeams;
    }
  }

  /** Enough hypotheses, and (without early stopping) none of the running beams can do better. */
  private saturated(bestSum: number, generated: number): boolean {
    if (this.finished.length < this.options.numBeams) return false;
    if (this.options.earlyStopping) return true;
    const worst = Math.min(...this.finished.map((h) => h.score));
    return worst >= bestSum / generated ** this.lengthPenalty;
  }
}

function logSoftmax(scores: Float32Array): Float64Array {
  let max = -Infinity;
  for (const s of scores) if (s > max) max = s;
  let sum = 0;
  for (const s of scores) sum += Math.exp(s - max);
  const logSum = max + Math.log(sum);
  return Float64Array.from(scores, (s) => s - logSum);
}

/** Keeps `list` sorted by score, descending, at most `limit` long; equal scores keep arrival order. */
function insertSorted<T extends { score: number }>(list: T[], item: T, limit: number): void {
  let at = list.length;
  while (at > 0 && list[at - 1]!.score < item.score) at--;
  list.splice(at, 0, item);
  if (list.length > limit) list.pop();
}
