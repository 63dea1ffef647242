/**
 * Forward-pass FLOPs of the CLIP towers from a ClipSpec (2 FLOPs per multiply-add): the matmuls of
 * every layer (QKV, attention scores, attention × V, output projection, MLP), the patch
 * convolution and the projections; layer norms, softmax, GELU and biases are left out (< 1%).
 */
import type { ClipSpec } from '../src/models/generator/index.js';

/** One encoder layer on `n` tokens of width `d` with MLP width `m`. */
function layerFlops(n: number, d: number, m: number): number {
  const projections = 2 * n * d * (3 * d) + 2 * n * d * d; // QKV in, attention out
  const attention = 2 * n * n * d + 2 * n * n * d; // Q·Kᵀ over all heads, then scores · V
  const mlp = 2 * n * d * m * 2;
  return projections + attention + mlp;
}

/** The vision tower on one image: patch conv, then (patches + 1) tokens through every layer. */
export function visionFlops(spec: ClipSpec): number {
  const patches = (spec.imageSize / spec.patchSize) ** 2;
  const conv = 2 * patches * (3 * spec.patchSize * spec.patchSize) * spec.visionHidden;
  const projection = 2 * spec.visionHidden * spec.projectionDim;
  return conv + spec.visionLayers * layerFlops(patches + 1, spec.visionHidden, spec.visionIntermediate) + projection;
}

/** The text tower on one prompt of `tokens` tokens (padding included). */
export function textFlops(spec: ClipSpec, tokens: number): number {
  const projection = 2 * spec.textHidden * spec.projectionDim;
  return spec.textLayers * layerFlops(tokens, spec.textHidden, spec.textIntermediate) + projection;
}

/**
 * Expected naive ÷ ours (warm) per request: the naive pipeline runs the vision tower once and the
 * text tower on all `labels` prompts, padded to the longest (`tokens`); ours only the vision tower.
 */
export function expectedSpeedup(spec: ClipSpec, labels: number, tokens: number): number {
  const vision = visionFlops(spec);
  return (vision + labels * textFlops(spec, tokens)) / vision;
}
