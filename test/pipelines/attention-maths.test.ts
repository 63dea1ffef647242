import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SeededRandom } from '../../src/models/generator/index.js';
import { parseImageProcessorConfig } from '../../src/models/image/index.js';
import { attentionRollout, clsAttention, clsSimilarity, type AttentionLayout, type HeadSelection } from '../../src/pipelines/attention/attention-maths.js';
import { inputRegion, patchGrid } from '../../src/pipelines/attention/patch-grid.js';

const layout: AttentionLayout = { heads: 3, tokens: 6, specialTokens: 1 };
const T = layout.tokens;

/** A random attention layer: each head's rows are a softmax, so they sum to 1. */
function randomLayer(rng: SeededRandom): Float32Array {
  const out = new Float32Array(layout.heads * T * T);
  for (let row = 0; row < layout.heads * T; row++) {
    const logits = Array.from({ length: T }, () => rng.normal() * 2);
    const exp = logits.map(Math.exp);
    const sum = exp.reduce((a, b) => a + b, 0);
    exp.forEach((e, j) => (out[row * T + j] = e / sum));
  }
  return out;
}

type Matrix = number[][];
const at = (layer: Float32Array, h: number, i: number, j: number) => layer[h * T * T + i * T + j]!;

/** The naive reference: the selected heads reduced into a full matrix. */
function reduced(layer: Float32Array, heads: number[], max: boolean): Matrix {
  return Array.from({ length: T }, (_, i) =>
    Array.from({ length: T }, (_, j) => {
      const values = heads.map((h) => at(layer, h, i, j));
      return max ? Math.max(...values) : values.reduce((a, b) => a + b, 0) / values.length;
    }),
  );
}
const matmul = (a: Matrix, b: Matrix): Matrix => a.map((row) => b[0]!.map((_, j) => row.reduce((sum, v, k) => sum + v * b[k]![j]!, 0)));
const groups = (selection: HeadSelection): number[][] =>
  selection === 'all' ? [[0], [1], [2]] : typeof selection === 'number' ? [[selection]] : [[0, 1, 2]];

/** Full-matrix rollout: Ã = rownorm(0.5·A + 0.5·I), P = Ã_last ··· Ã_first, map = P[0, patches]. */
function naiveRollout(layers: Float32Array[], selection: HeadSelection): number[][] {
  return groups(selection).map((heads) => {
    let product: Matrix | undefined;
    for (const layer of layers) {
      const a = reduced(layer, heads, selection === 'max').map((row, i) => row.map((v, j) => 0.5 * v + (i === j ? 0.5 : 0)));
      const normed = a.map((row) => row.map((v) => v / row.reduce((s, x) => s + x, 0)));
      product = product ? matmul(normed, product) : normed;
    }
    return product![0]!.slice(layout.specialTokens);
  });
}

function assertMapsClose(actual: Float32Array[], expected: number[][], tolerance = 1e-6): void {
  assert.equal(actual.length, expected.length);
  actual.forEach((map, m) => {
    assert.equal(map.length, expected[m]!.length);
    map.forEach((v, i) => assert.ok(Math.abs(v - expected[m]![i]!) < tolerance, `map ${m}[${i}]: ${v} vs ${expected[m]![i]}`));
  });
}

describe('attention maths against naive references', () => {
  const rng = new SeededRandom(11);
  const layers = [randomLayer(rng), randomLayer(rng), randomLayer(rng), randomLayer(rng)];

  for (const selection of ['mean', 'max', 'all', 2] as const) {
    it(`CLS attention, heads ${selection}`, () => {
      const expected = groups(selection).map((heads) => reduced(layers[3]!, heads, selection === 'max')[0]!.slice(1));
      assertMapsClose(clsAttention(layers[3]!, layout, selection), expected);
    });
    it(`rollout over all layers and from a start layer, heads ${selection}`, () => {
      assertMapsClose(attentionRollout(layers, layout, selection), naiveRollout(layers, selection));
      assertMapsClose(attentionRollout(layers.slice(2), layout, selection), naiveRollout(layers.slice(2), selection));
    });
  }

  it('rollout keeps mass 1 over all tokens (rows stay stochastic)', () => {
    const [map] = attentionRollout(layers, { ...layout, specialTokens: 1 }, 'mean');
    const patchMass = map!.reduce((a, b) => a + b, 0);
    assert.ok(patchMass > 0 && patchMass < 1, `patch mass ${patchMass} leaves the CLS token its share`);
  });

  it('CLS similarity is the cosine to each patch token', () => {
    const dim = 4;
    const hidden = Float32Array.from({ length: T * dim }, () => rng.normal());
    const vector = (t: number) => Array.from(hidden.subarray(t * dim, (t + 1) * dim));
    const cosine = (a: number[], b: number[]) =>
      a.reduce((s, v, i) => s + v * b[i]!, 0) / Math.hypot(...a) / Math.hypot(...b);
    const expected = Array.from({ length: T - 1 }, (_, p) => cosine(vector(0), vector(p + 1)));
    assertMapsClose([clsSimilarity(hidden, T, 1)], [expected]);
  });

  it('refuses a head index out of range', () => {
    assert.throws(() => clsAttention(layers[0]!, layout, 3), /head 3 is out of range 0–2/);
  });
});

describe('patch grid and the photo region it covers', () => {
  it('is 14×14 for patch 16 at 224, 7×7 for patch 32, and finds a distillation token', () => {
    assert.deepEqual(patchGrid(197, 224, 224), { rows: 14, cols: 14, patchSize: 16, specialTokens: 1 });
    assert.deepEqual(patchGrid(50, 224, 224), { rows: 7, cols: 7, patchSize: 32, specialTokens: 1 });
    assert.deepEqual(patchGrid(198, 224, 224, 16), { rows: 14, cols: 14, patchSize: 16, specialTokens: 2 });
    assert.deepEqual(patchGrid(577, 384, 384), { rows: 24, cols: 24, patchSize: 16, specialTokens: 1 });
    assert.throws(() => patchGrid(100, 224, 224), /100 tokens do not make a patch grid/);
  });

  it('covers the whole photo after an exact resize (ViT)', () => {
    const vit = parseImageProcessorConfig({ do_resize: true, size: { height: 224, width: 224 }, resample: 2, do_normalize: false }, { defaultToSquare: true });
    assert.deepEqual(inputRegion(640, 480, vit), { x: 0, y: 0, width: 640, height: 480 });
  });

  it('covers only the center-crop window after a shortest-edge resize (CLIP)', () => {
    const clip = parseImageProcessorConfig(
      { do_resize: true, size: { shortest_edge: 224 }, do_center_crop: true, crop_size: { height: 224, width: 224 }, resample: 3, do_normalize: false },
      { defaultToSquare: false },
    );
    // 640×480 → 298×224 (HF truncates), crop left = ⌊74/2⌋ = 37, scale back by 640/298.
    const region = inputRegion(640, 480, clip);
    assert.ok(Math.abs(region.x - (37 * 640) / 298) < 1e-9);
    assert.ok(Math.abs(region.width - (224 * 640) / 298) < 1e-9);
    assert.deepEqual([region.y, region.height], [0, 480]);
  });
});
