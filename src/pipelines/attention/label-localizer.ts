/**
 * Where each label is in an image (CLIP): every patch token is taken through the vision tower's
 * final norm and projection (`patch_embeds`, added by graph surgery: patch-projection.ts) and
 * compared by cosine with each label's text embedding (its prompts, through the embedding cache,
 * as zero-shot does). The image-level scores come from the same vision run.
 *
 * @example
 *   const result = await localizer.localize({ image, labels: ['cat', 'remote'], strategy: 'template', topK: 2, multiLabel: false });
 *   // result.maps[0]: the cosine of 'a photo of a cat.' to each of the 7×7 patches
 */
import type { HeatmapStyle } from '../../models/image/heatmap-overlay.js';
import { inCallScope } from '../call-scope.js';
import type { CallOptions } from '../image-classification.js';
import { dot } from '../scores.js';
import { normalise, type PromptRequest } from '../zero-shot-prompts.js';
import { scoreLabels, type ClipPipeline, type LabelScore } from '../zero-shot.js';
import type { MapPlacement } from './patch-grid.js';
import { placeMaps, runTappedImage, type TappedImageDeps } from './tapped-image.js';

export interface LocalizeInput extends PromptRequest {
  image: Uint8Array;
  topK: number;
  multiLabel: boolean;
  maxPrompts?: number;
  /** Also draw the maps over the photo (one tile per label) as a PNG, in this style. */
  render?: HeatmapStyle;
}

export interface LabelMap {
  label: string;
  /** grid.rows × grid.cols cosines, row-major. */
  values: Float32Array;
}

export interface LocalizeResult extends MapPlacement {
  predictions: LabelScore[];
  /** One per label, in the request's order. */
  maps: LabelMap[];
  prompts: { label: string; texts: string[] }[];
  cache: { hits: number; misses: number };
  timing: { textMs: number; preprocessMs: number; inferenceMs: number; renderMs: number; totalMs: number };
}

export interface LabelLocalizer {
  localize(input: LocalizeInput, options?: CallOptions): Promise<LocalizeResult>;
}

export interface LabelLocalizerDeps extends TappedImageDeps {
  clip: Pick<ClipPipeline, 'labelEmbeddings'>;
  /** The tap (of the vision tower's tapped batcher) holding every token's embedding. */
  patchTap: string;
  logitScale: number;
}

/** Each label's cosine to every patch: `tokens` rows of `dim` values, the first `special` skipped. */
export function labelPatchCosines(labels: readonly Float32Array[], tokens: Float32Array, special: number): Float32Array[] {
  const dim = labels[0]?.length ?? 0;
  const count = tokens.length / dim - special;
  const patches = Array.from({ length: count }, (_, p) => normalise(tokens.subarray((p + special) * dim, (p + special + 1) * dim)));
  return labels.map((label) => Float32Array.from(patches, (patch) => dot(label, patch)));
}

export function createLabelLocalizer(deps: LabelLocalizerDeps): LabelLocalizer {
  const { clip, patchTap, grid } = deps;
  return {
    async localize(input, options = {}) {
      const started = performance.now();
      const [texts, vision] = await inCallScope(options, (scoped) =>
        Promise.all([
          clip.labelEmbeddings(input, scoped).then((done) => ({ ...done, textMs: performance.now() - started })),
          runTappedImage(deps, input.image, [patchTap], input.render !== undefined, scoped),
        ]),
      );
      const { pre, row } = vision;
      const predictions = scoreLabels(texts.vectors, normalise(row.row), input, deps.logitScale);
      const cosines = labelPatchCosines(texts.vectors, row.taps.get(patchTap)!.data, grid.specialTokens);
      const maps = input.labels.map((label, i) => ({ label, values: cosines[i]! }));
      const { renderMs, ...placement } = await placeMaps(deps, input.image, pre, maps, input.render, options);
      return {
        ...placement,
        predictions,
        maps,
        prompts: input.labels.map((label, i) => ({ label, texts: texts.prompts[i]! })),
        cache: { hits: texts.hits, misses: texts.misses },
        timing: {
          textMs: texts.textMs,
          preprocessMs: vision.preprocessMs,
          inferenceMs: row.inferenceMs,
          renderMs,
          totalMs: performance.now() - started,
        },
      };
    },
  };
}
