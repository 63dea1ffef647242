/**
 * Attention maps for one image: preprocess, one run of the encoder that also fetches the layers
 * the method needs (taps, see tapped-encoder.ts), the maths (attention-maths.ts), the geometry
 * (patch-grid.ts) and, when asked, the heat-map PNG over the photo (drawn in the preprocessing
 * pool). The encoder's own output comes from the same run, so a caller can classify too.
 *
 * @example
 *   const result = await explainer.explain({ image, method: 'rollout', heads: 'mean', render: { colormap: 'jet', alpha: 0.5 } });
 *   // result.maps[0].values: 196 values over a 14×14 grid; result.png: the overlay
 */
import { ApiError } from '../../errors.js';
import type { AttentionTaps } from '../../models/attention/attention-taps.js';
import type { HeatmapStyle } from '../../models/image/heatmap-overlay.js';
import type { CallOptions } from '../image-classification.js';
import { attentionRollout, clsAttention, clsSimilarity, type AttentionLayout, type HeadSelection } from './attention-maths.js';
import type { MapPlacement, PatchGrid } from './patch-grid.js';
import { placeMaps, runTappedImage, type TappedImageDeps } from './tapped-image.js';

export const ATTENTION_METHODS = ['cls', 'rollout', 'similarity'] as const;
export type AttentionMethod = (typeof ATTENTION_METHODS)[number];

export interface ExplainInput {
  image: Uint8Array;
  method: AttentionMethod;
  /** cls, similarity: the layer, 0-based; negative counts from the end. Default: the last. */
  layer?: number;
  /** rollout: the first layer multiplied in (negative counts from the end). Default 0. */
  startLayer?: number;
  /** cls, rollout; default 'mean'. Similarity compares hidden states and has no heads. */
  heads?: HeadSelection;
  /** Also draw the maps over the photo as a PNG, in this style. */
  render?: HeatmapStyle;
}

export interface AttentionMap {
  /** 'mean' or 'max' over heads, or the head's index; absent for similarity (no heads). */
  head?: 'mean' | 'max' | number;
  /** grid.rows × grid.cols values, row-major. */
  values: Float32Array;
}

export interface ExplainTiming {
  preprocessMs: number;
  queueMs: number;
  inferenceMs: number;
  renderMs: number;
  totalMs: number;
  batchSize: number;
}

export interface ExplainResult extends MapPlacement {
  method: AttentionMethod;
  /** The layer read (cls, similarity) or the first one multiplied in (rollout), resolved to 0-based. */
  layer: number;
  heads: HeadSelection | undefined;
  maps: AttentionMap[];
  /** The encoder's output row from the same run (a ViT's logits). */
  output: Float32Array;
  timing: ExplainTiming;
}

export interface AttentionExplainer {
  readonly layers: number;
  readonly heads: number;
  readonly grid: PatchGrid;
  /** Whether `similarity` is available at each layer. */
  readonly hiddenStates: readonly boolean[];
  explain(input: ExplainInput, options?: CallOptions): Promise<ExplainResult>;
}

export interface AttentionExplainerDeps extends TappedImageDeps {
  taps: AttentionTaps;
  /** Measured from a run at load: heads and tokens of the attention (`grid` is what they form). */
  layout: AttentionLayout;
}

/** A 0-based layer index from one that may count from the end; 400 when out of range. */
function resolveLayer(name: string, layer: number, layers: number): number {
  const resolved = layer < 0 ? layers + layer : layer;
  if (!Number.isInteger(layer) || resolved < 0 || resolved >= layers) {
    throw new ApiError('invalid_request', `${name} ${layer} is out of range: the model has ${layers} layers (0 to ${layers - 1}, or -${layers} to -1)`);
  }
  return resolved;
}

function mapHead(selection: HeadSelection, index: number): AttentionMap['head'] {
  if (selection === 'all') return index;
  return selection;
}

export function createAttentionExplainer(deps: AttentionExplainerDeps): AttentionExplainer {
  const { taps, layout, grid } = deps;
  const layers = taps.attention.length;

  /** The taps a request reads, and how its maps come out of them. */
  function plan(input: ExplainInput): { layer: number; taps: string[]; maps: (rows: Map<string, { data: Float32Array }>) => Float32Array[] } {
    const heads = input.heads ?? 'mean';
    if (typeof heads === 'number' && (heads < 0 || heads >= layout.heads)) {
      throw new ApiError('invalid_request', `head ${heads} is out of range: the model has ${layout.heads} heads (0 to ${layout.heads - 1})`);
    }
    // The head mean comes from the graph when it was added there: 1/heads of the data.
    const fromMeans = heads === 'mean' && taps.headMeans !== undefined;
    const attention = fromMeans ? taps.headMeans! : taps.attention;
    const tapLayout = fromMeans ? { ...layout, heads: 1 } : layout;
    if (input.method === 'rollout') {
      if (input.layer !== undefined) throw new ApiError('invalid_request', 'rollout takes start_layer, not layer');
      const start = resolveLayer('start_layer', input.startLayer ?? 0, layers);
      const names = attention.slice(start);
      return { layer: start, taps: names, maps: (rows) => attentionRollout(names.map((name) => rows.get(name)!.data), tapLayout, heads) };
    }
    if (input.startLayer !== undefined) throw new ApiError('invalid_request', `${input.method} takes layer, not start_layer`);
    const layer = resolveLayer('layer', input.layer ?? -1, layers);
    if (input.method === 'cls') {
      const name = attention[layer]!;
      return { layer, taps: [name], maps: (rows) => clsAttention(rows.get(name)!.data, tapLayout, heads) };
    }
    if (input.heads !== undefined) throw new ApiError('invalid_request', 'similarity compares hidden states: heads does not apply');
    const name = taps.hiddenStates[layer];
    if (!name) throw new ApiError('invalid_request', `similarity needs the hidden states of layer ${layer}, which could not be identified in this model's graph`);
    return { layer, taps: [name], maps: (rows) => [clsSimilarity(rows.get(name)!.data, layout.tokens, layout.specialTokens)] };
  }

  return {
    layers,
    heads: layout.heads,
    grid,
    hiddenStates: taps.hiddenStates.map((name) => name !== undefined),
    async explain(input, options = {}) {
      const started = performance.now();
      const chosen = plan(input);
      const { pre, row: result, preprocessMs } = await runTappedImage(deps, input.image, chosen.taps, input.render !== undefined, options);
      const heads = input.method === 'similarity' ? undefined : (input.heads ?? 'mean');
      const maps: AttentionMap[] = chosen.maps(result.taps).map((values, i) => (heads === undefined ? { values } : { head: mapHead(heads, i), values }));
      const labelled = maps.map((m) => ({ label: typeof m.head === 'number' ? `head ${m.head}` : (m.head ?? input.method), values: m.values }));
      const { renderMs, ...placement } = await placeMaps(deps, input.image, pre, labelled, input.render, options);
      const totalMs = performance.now() - started;
      return {
        ...placement,
        method: input.method,
        layer: chosen.layer,
        heads,
        maps,
        output: result.row,
        timing: {
          preprocessMs,
          inferenceMs: result.inferenceMs,
          queueMs: Math.max(0, totalMs - preprocessMs - result.inferenceMs - renderMs),
          renderMs,
          totalMs,
          batchSize: result.batchSize,
        },
      };
    },
  };
}
