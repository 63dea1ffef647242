import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../../src/models/generator/seeded-random.js';
import { applyAlignment, fitProcrustes } from '../../src/pipelines/alignment/procrustes.js';
import { gapStats } from '../../src/pipelines/alignment/gap.js';
import { normalise } from '../../src/pipelines/zero-shot-prompts.js';

/** A random orthogonal d×d matrix (Gram–Schmidt on Gaussian columns), row-major. */
function randomOrthogonal(rng: SeededRandom, d: number): Float64Array[] {
  const rows: Float64Array[] = [];
  while (rows.length < d) {
    const v = Float64Array.from(rng.normalArray(d, 1));
    for (const r of rows) {
      const p = r.reduce((s, x, i) => s + x * v[i]!, 0);
      for (let i = 0; i < d; i++) v[i]! -= p * r[i]!;
    }
    const n = Math.hypot(...v);
    rows.push(v.map((x) => x / n));
  }
  return rows;
}

const times = (x: Float32Array, q: Float64Array[]) => Float32Array.from(q[0]!, (_, j) => q.reduce((s, row, i) => s + x[i]! * row[j]!, 0));

describe('orthogonal Procrustes', () => {
  it('recovers a known rotation plus offset (error < 1e-4), and W is orthogonal', () => {
    const rng = new SeededRandom(7);
    const d = 16;
    const q = randomOrthogonal(rng, d);
    const offset = rng.normalArray(d, 0.5);
    const x = Array.from({ length: 64 }, () => rng.normalArray(d, 1));
    const y = x.map((xi) => times(xi, q).map((v, j) => v + offset[j]!));
    const map = fitProcrustes(x, y);
    let worst = 0;
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) worst = Math.max(worst, Math.abs(map.w[i * d + j]! - q[i]![j]!));
    assert.ok(worst < 1e-4, `max |W − Q| = ${worst}`);
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) {
        let wwt = 0;
        for (let k = 0; k < d; k++) wwt += map.w[i * d + k]! * map.w[j * d + k]!;
        assert.ok(Math.abs(wwt - (i === j ? 1 : 0)) < 1e-4, `W·Wᵀ[${i}][${j}] = ${wwt}`);
      }
    }
    // The map sends x to normalise(y): applyAlignment normalises.
    const sent = applyAlignment(map, x[3]!);
    const target = normalise(y[3]!);
    assert.ok(sent.every((v, i) => Math.abs(v - target[i]!) < 1e-4));
  });

  it('on clusters with a modality gap, raises accuracy and shrinks the centroid distance', () => {
    const rng = new SeededRandom(11);
    const d = 32;
    const classes = 5;
    // Text embeddings: one per label. Images: their label's text rotated by a fixed rotation, pushed
    // along a shared gap direction, plus noise: the layout of CLIP's two cones.
    const labels = Array.from({ length: classes }, () => normalise(rng.normalArray(d, 1)));
    const rotation = randomOrthogonal(rng, d);
    const gap = normalise(rng.normalArray(d, 1)).map((v) => v * 2.5);
    const labelOf = Array.from({ length: 200 }, (_, i) => i % classes);
    const images = labelOf.map((c) => normalise(times(labels[c]!, rotation).map((v, j) => v + gap[j]! + rng.normal() * 0.15)));
    const before = gapStats(images, labelOf, labels);
    const map = fitProcrustes(images, labelOf.map((c) => labels[c]!));
    const after = gapStats(images.map((x) => applyAlignment(map, x)), labelOf, labels);
    assert.ok(before.accuracy < 0.6, `accuracy before ${before.accuracy}`);
    assert.ok(after.accuracy > 0.95, `accuracy after ${after.accuracy}`);
    // Measured with this seed: accuracy 0.21 → 1, centroid distance 1.11 → 0.28, mean cosine −0.18 → 0.78.
    assert.ok(after.centroidDistance < before.centroidDistance / 3, `centroid distance ${before.centroidDistance} → ${after.centroidDistance}`);
    assert.ok(after.meanCosine > before.meanCosine + 0.3, `mean cosine ${before.meanCosine} → ${after.meanCosine}`);
  });
});
