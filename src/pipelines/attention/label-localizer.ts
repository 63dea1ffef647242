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
import type { ImageProcessorSettings } from '../../models/image/index.js';
import type { PreprocessPool } from '../../models/image/preprocess-pool.js';
import type { Batcher } from '../batcher.js';
import { inCallScope } from '../call-scope.js';
import type { CallOptions } from '../image-classification.js';
import { dot } from '../scores.js';
import type { TappedItem, TappedRow } from '../tapped-encoder.js';
import { normalise, type PromptRequest } from '../zero-shot-prompts.js';
import { scoreLabels, type ClipPipeline, type LabelScore } from '../zero-shot.js';
import { inputRegion, type MapPlacement, type PatchGrid } from './patch-grid.js';

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

export interface LabelLocalizerDeps {
  clip: Pick<ClipPipeline, 'labelEmbeddings'>;
  /** The vision tower's tapped batcher, and the tap holding every token's embedding. */
  batcher: Pick<Batcher<TappedItem, TappedRow>, 'submit'>;
  patchTap: string;
  grid: PatchGrid;
  image: ImageProcessorSettings;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle' | 'renderHeatmap'>;
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
  const { clip, batcher, patchTap, grid, image, preprocessor } = deps;
  return {
    async localize(input, options = {}) {
      const started = performance.now();
      const [texts, vision] = await inCallScope(options, (scoped) =>
        Promise.all([
          clip.labelEmbeddings(input, scoped).then((done) => ({ ...done, textMs: performance.now() - started })),
          (async () => {
            const pre = await preprocessor.preprocess(input.image, image, { ...scoped, transferImage: scoped.transferImage && !input.render });
            const preprocessMs = performance.now() - started;
            const row = await batcher.submit({ pixels: pre.pixelValues, taps: [patchTap] }, scoped);
            preprocessor.recycle(pre.pixelValues);
            return { pre, row, preprocessMs };
          })(),
        ]),
      );
      const { pre, row } = vision;
      const predictions = scoreLabels(texts.vectors, normalise(row.row), input, deps.logitScale);
      const cosines = labelPatchCosines(texts.vectors, row.taps.get(patchTap)!.data, grid.specialTokens);
      const maps = input.labels.map((label, i) => ({ label, values: cosines[i]! }));
      const region = inputRegion(pre.source.width, pre.source.height, image);
      const renderStarted = performance.now();
      const png = input.render ? await preprocessor.renderHeatmap(input.image, { maps, grid, region, style: input.render }, options) : undefined;
      return {
        predictions,
        maps,
        grid,
        input: { width: pre.width, height: pre.height },
        photo: pre.source,
        region,
        png,
        prompts: input.labels.map((label, i) => ({ label, texts: texts.prompts[i]! })),
        cache: { hits: texts.hits, misses: texts.misses },
        timing: {
          textMs: texts.textMs,
          preprocessMs: vision.preprocessMs,
          inferenceMs: row.inferenceMs,
          renderMs: input.render ? performance.now() - renderStarted : 0,
          totalMs: performance.now() - started,
        },
      };
    },
  };
}
