/**
 * Where a vision transformer looks, from one image's attention probabilities or hidden states.
 * Every function returns one value per patch token (row-major over the patch grid), one map per
 * head for `heads: 'all'`, else one map.
 *
 * - `clsAttention`: the CLS token's attention to each patch in one layer.
 * - `attentionRollout` (Abnar & Zuidema, 2020): each layer's head-reduced attention plus the
 *   residual identity, A' = rownorm(0.5·A + 0.5·I), multiplied from the last layer down to
 *   `startLayer`; the map is the CLS row of the product. Only that row is needed, so it is
 *   carried as a vector: O(layers · tokens²) instead of O(layers · tokens³).
 * - `clsSimilarity`: the cosine of the CLS token's hidden state to each patch's in one layer.
 *
 *   const maps = clsAttention(layer11, { heads: 12, tokens: 197, specialTokens: 1 }, 'mean');
 */

/** One map per head ('all'), the mean or the max over heads, or one head by index. */
export type HeadSelection = 'mean' | 'max' | 'all' | number;

/** The token layout of one layer's attention ([heads, tokens, tokens] per image). */
export interface AttentionLayout {
  heads: number;
  tokens: number;
  /** Tokens before the patches: the CLS token (and e.g. DeiT's distillation token). */
  specialTokens: number;
}

/** The heads whose matrices a selection reads, each group reduced to one map. */
function headGroups(selection: HeadSelection, heads: number): number[][] {
  const all = Array.from({ length: heads }, (_, h) => h);
  if (selection === 'all') return all.map((h) => [h]);
  if (typeof selection === 'number') {
    if (!Number.isInteger(selection) || selection < 0 || selection >= heads) throw new RangeError(`head ${selection} is out of range 0–${heads - 1}`);
    return [[selection]];
  }
  return [all];
}

/** Reduces row `row` of the selected heads' matrices into `out` (length tokens). */
function reducedRow(attention: Float32Array, layout: AttentionLayout, group: number[], max: boolean, row: number, out: Float64Array): void {
  const { tokens } = layout;
  const square = tokens * tokens;
  out.fill(max ? -Infinity : 0);
  for (const h of group) {
    const base = h * square + row * tokens;
    if (max) for (let j = 0; j < tokens; j++) out[j] = Math.max(out[j]!, attention[base + j]!);
    else for (let j = 0; j < tokens; j++) out[j]! += attention[base + j]!;
  }
  if (!max && group.length > 1) for (let j = 0; j < tokens; j++) out[j]! /= group.length;
}

function checkLayer(attention: Float32Array, layout: AttentionLayout): void {
  const expected = layout.heads * layout.tokens * layout.tokens;
  if (attention.length !== expected) throw new RangeError(`attention has ${attention.length} values, expected ${layout.heads}×${layout.tokens}×${layout.tokens}`);
  if (layout.specialTokens < 1 || layout.specialTokens >= layout.tokens) throw new RangeError(`specialTokens must be in 1–${layout.tokens - 1}`);
}

/** The CLS token's attention to each patch (row 0, patch columns) in one layer. */
export function clsAttention(attention: Float32Array, layout: AttentionLayout, heads: HeadSelection): Float32Array[] {
  checkLayer(attention, layout);
  const row = new Float64Array(layout.tokens);
  return headGroups(heads, layout.heads).map((group) => {
    reducedRow(attention, layout, group, heads === 'max', 0, row);
    return Float32Array.from(row.subarray(layout.specialTokens));
  });
}

/**
 * Attention rollout over `layers` (first to last; pass the slice from the start layer on). The
 * heads are reduced per layer before the identity is added; with 'all' each head is rolled out
 * through the same head index of every layer.
 */
export function attentionRollout(layers: readonly Float32Array[], layout: AttentionLayout, heads: HeadSelection): Float32Array[] {
  if (layers.length === 0) throw new RangeError('rollout needs at least one layer');
  for (const layer of layers) checkLayer(layer, layout);
  const { tokens } = layout;
  const row = new Float64Array(tokens);
  return headGroups(heads, layout.heads).map((group) => {
    let cls = new Float64Array(tokens);
    cls[0] = 1; // e₀ᵀ: the CLS row of the product
    for (let l = layers.length - 1; l >= 0; l--) {
      const next = new Float64Array(tokens);
      for (let i = 0; i < tokens; i++) {
        const weight = cls[i]!;
        if (weight === 0) continue;
        reducedRow(layers[l]!, layout, group, heads === 'max', i, row);
        let rowSum = 0.5; // the identity's share
        for (let j = 0; j < tokens; j++) rowSum += 0.5 * row[j]!;
        const scale = weight / rowSum;
        for (let j = 0; j < tokens; j++) next[j]! += scale * 0.5 * row[j]!;
        next[i]! += scale * 0.5;
      }
      cls = next;
    }
    return Float32Array.from(cls.subarray(layout.specialTokens));
  });
}

/** Cosine similarity of the CLS token's hidden state to each patch's; `hidden` is [tokens, dim]. */
export function clsSimilarity(hidden: Float32Array, tokens: number, specialTokens: number): Float32Array {
  const dim = hidden.length / tokens;
  if (!Number.isInteger(dim) || dim < 1) throw new RangeError(`hidden states of ${hidden.length} values do not split into ${tokens} tokens`);
  const norm = (t: number): number => {
    let sum = 0;
    for (let d = 0; d < dim; d++) sum += hidden[t * dim + d]! ** 2;
    return Math.sqrt(sum);
  };
  const clsNorm = norm(0);
  const out = new Float32Array(tokens - specialTokens);
  for (let t = specialTokens; t < tokens; t++) {
    let dot = 0;
    for (let d = 0; d < dim; d++) dot += hidden[d]! * hidden[t * dim + d]!;
    const denominator = clsNorm * norm(t);
    out[t - specialTokens] = denominator === 0 ? 0 : dot / denominator;
  }
  return out;
}
