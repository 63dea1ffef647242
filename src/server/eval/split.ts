/**
 * The seeded, stratified held-out split: each label keeps round(n · holdout) of its examples
 * apart (at least one, and at least one to fit), so both splits see every label.
 */
import { SeededRandom } from '../../models/generator/seeded-random.js';
import { UsageError } from './args.js';

export interface Split {
  /** Example indices, ascending. */
  fit: number[];
  held: number[];
}

export function stratifiedSplit(labelOf: readonly number[], labels: readonly string[], holdout: number, seed: number): Split {
  const rng = new SeededRandom(seed);
  const fit: number[] = [];
  const held: number[] = [];
  labels.forEach((label, k) => {
    const members = labelOf.flatMap((l, i) => (l === k ? [i] : []));
    if (members.length < 2) throw new UsageError(`label '${label}' has ${members.length} example(s); each label needs at least 2 (one to fit, one to hold out)`);
    for (let i = members.length - 1; i > 0; i--) {
      const j = Math.floor(rng.next() * (i + 1));
      [members[i], members[j]] = [members[j]!, members[i]!];
    }
    const count = Math.min(members.length - 1, Math.max(1, Math.round(members.length * holdout)));
    held.push(...members.slice(0, count));
    fit.push(...members.slice(count));
  });
  return { fit: fit.sort((a, b) => a - b), held: held.sort((a, b) => a - b) };
}
