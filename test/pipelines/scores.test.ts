import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { topK } from '../../src/pipelines/scores.js';

/** The definition: every index sorted by value, largest first, ties by index. */
function topKBySorting(values: ArrayLike<number>, k: number): number[] {
  const indices = Array.from({ length: values.length }, (_, i) => i);
  indices.sort((a, b) => values[b]! - values[a]! || a - b);
  return indices.slice(0, Math.max(0, Math.min(k, values.length)));
}

describe('topK', () => {
  it('agrees with sorting every index, ties included, for small and large k', () => {
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (const length of [0, 1, 5, 1000]) {
      // Few distinct values, so that ties are common.
      const values = Float32Array.from({ length }, () => Math.round(random() * 20) / 20);
      for (const k of [0, 1, 5, 32, 33, 1000, 2000]) {
        assert.deepEqual(topK(values, k), topKBySorting(values, k), `length ${length}, k ${k}`);
      }
    }
  });

  it('keeps the lower index first among equal values', () => {
    assert.deepEqual(topK([0.5, 0.9, 0.5, 0.9, 0.1], 3), [1, 3, 0]);
  });
});
