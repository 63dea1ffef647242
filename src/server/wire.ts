/**
 * Response shapes on the wire (snake_case), shared by the HTTP JSON and the gRPC messages so
 * the two transports cannot drift apart.
 */
import { AttentionUnavailableError } from '../models/attention/attention-taps.js';
import type { AttentionExplainer, ExplainResult } from '../pipelines/attention/attention-explainer.js';
import type { LocalizeResult } from '../pipelines/attention/label-localizer.js';
import type { MapPlacement, PatchGrid } from '../pipelines/attention/patch-grid.js';
import type { ClassifyResult, Prediction } from '../pipelines/image-classification.js';
import type { ZeroShotResult } from '../pipelines/zero-shot.js';
import type { GapStats } from '../pipelines/alignment/gap.js';
import type { AlignmentRecord, AlignmentStore } from './alignment-store.js';
import type { ModelRegistry } from './model-registry.js';
import type { AgreementStatus } from './variant-agreements.js';
import type { CaptionResult } from '../pipelines/captioning.js';

const round = (ms: number) => Math.round(ms * 100) / 100;

function captionWire(result: CaptionResult, embedding: Float32Array | undefined) {
  const { timing } = result;
  return {
    caption: result.caption,
    tokens: result.tokens,
    finish_reason: result.finishReason,
    timing: { preprocess_ms: round(timing.preprocessMs), encode_ms: round(timing.encodeMs), decode_ms: round(timing.decodeMs), total_ms: round(timing.totalMs) },
    ...(embedding && { embedding: Array.from(embedding) }),
  };
}

/**
 * The first image's caption at the top level; with several images, every one in `results`, in
 * order. With `embedded`, each caption's CLIP text embedding and the model that made them.
 */
export function captionResponse(modelId: string, results: CaptionResult[], randomWeights: boolean, embedded?: { model: string; vectors: Float32Array[] }) {
  const wire = results.map((result, i) => captionWire(result, embedded?.vectors[i]));
  return { model: modelId, ...wire[0]!, ...(wire.length > 1 && { results: wire }), ...(embedded && { embedding_model: embedded.model }), random_weights: randomWeights };
}

export function classifyResponse(modelId: string, result: ClassifyResult, randomWeights: boolean) {
  const { timing } = result;
  return {
    model: modelId,
    predictions: result.predictions,
    timing: {
      preprocess_ms: round(timing.preprocessMs),
      queue_ms: round(timing.queueMs),
      inference_ms: round(timing.inferenceMs),
      total_ms: round(timing.totalMs),
      batch_size: timing.batchSize,
    },
    random_weights: randomWeights,
  };
}

/** The zero-shot answer: `predictions` for one `image`, `results` (one per image) for `images`. */
export function zeroShotResponse(
  modelId: string,
  request: { single: boolean; strategy: string; multiLabel: boolean; alignment?: string | undefined },
  result: ZeroShotResult,
  randomWeights: boolean,
) {
  const { timing } = result;
  return {
    model: modelId,
    ...(request.single ? { predictions: result.images[0]!.predictions } : { results: result.images }),
    scores: request.multiLabel ? 'cosine' : 'softmax',
    strategy: request.strategy,
    ...(request.alignment !== undefined && { alignment: request.alignment }),
    prompts: result.prompts,
    truncated_prompts: result.truncatedPrompts,
    cache: result.cache,
    timing: {
      text_ms: round(timing.textMs),
      preprocess_ms: round(timing.preprocessMs),
      image_ms: round(timing.imageMs),
      total_ms: round(timing.totalMs),
    },
    random_weights: randomWeights,
  };
}

/** The OpenAI embeddings answer; `base64` packs each vector as little-endian float32 bytes. */
export function embeddingsResponse(modelId: string, vectors: readonly Float32Array[], format: 'float' | 'base64', promptTokens: number) {
  return {
    object: 'list' as const,
    data: vectors.map((vector, index) => ({
      object: 'embedding' as const,
      index,
      embedding: format === 'base64' ? Buffer.from(vector.buffer, vector.byteOffset, vector.byteLength).toString('base64') : Array.from(vector),
    })),
    model: modelId,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
  };
}

const gapWire = (stats: GapStats) => ({
  centroid_distance: stats.centroidDistance,
  mean_cosine: stats.meanCosine,
  accuracy: stats.accuracy,
});

/** A stored alignment as both transports answer it (everything but its matrix). */
export function alignmentResponse(record: Omit<AlignmentRecord, 'map'>) {
  const { fit, heldOut } = record.stats;
  return {
    name: record.name,
    model: record.model,
    dim: record.dim,
    strategy: record.strategy,
    labels: record.labels,
    examples: record.examples,
    created: record.created,
    stats: {
      fit: { examples: record.examples, before: gapWire(fit.before), after: gapWire(fit.after) },
      ...(heldOut ? { held_out: { examples: heldOut.examples, before: gapWire(heldOut.before), after: gapWire(heldOut.after) } } : {}),
    },
    warnings: record.warnings,
  };
}

/** The stored alignments; an unreadable file is listed with its error. */
export function alignmentList(store: AlignmentStore) {
  return store.list().map((entry) => ('error' in entry ? entry : alignmentResponse(entry)));
}

/**
 * GET /v1/models in the OpenAI list shape (`{object: "list", data: [{id, object: "model",
 * created, owned_by}]}`), so OpenAI clients can list the models; our fields stand beside theirs.
 */
export function openAiModelList(registry: ModelRegistry, shows?: (modelId: string) => boolean) {
  const created = Math.floor(registry.createdAt / 1000);
  return {
    object: 'list' as const,
    data: modelList(registry, shows).map((model) => ({ object: 'model' as const, created, owned_by: 'multimodal-server', ...model })),
  };
}

/** How a variant follows fp32 (snake_case, sessions as a list: one shape for JSON and proto). */
function agreementWire(agreement: AgreementStatus) {
  if (agreement.status !== 'measured') return agreement;
  return {
    ...agreement,
    sessions: agreement.sessions.map((s) => ({
      session: s.session,
      output: s.output,
      cosine_min: round6(s.cosineMin),
      cosine_mean: round6(s.cosineMean),
      ...(s.top1 !== undefined && { top1: s.top1 }),
      ...(s.top5 !== undefined && { top5: s.top5 }),
    })),
  };
}

const round6 = (value: number) => Math.round(value * 1e6) / 1e6;

/** What /v1/attention can ask of a model, or why it cannot. */
function attentionInfo(attention: AttentionExplainer | AttentionUnavailableError) {
  if (attention instanceof AttentionUnavailableError) return { unavailable: attention.message };
  return {
    layers: attention.layers,
    heads: attention.heads,
    grid: gridWire(attention.grid),
    similarity_layers: attention.hiddenStates.flatMap((known, layer) => (known ? [layer] : [])),
  };
}

/** The served models (`shows`: only those a caller's API key may use). */
export function modelList(registry: ModelRegistry, shows: (modelId: string) => boolean = () => true) {
  return registry.ids.filter(shows).map((id) => {
    const model = registry.get(id)!;
    const { spec, loaded } = model;
    return {
      id,
      task: model.task,
      state: model.state,
      error: model.error,
      family: loaded?.family,
      variant: model.labels.variant,
      components: loaded && Object.keys(loaded.components),
      execution_provider: loaded?.provider,
      ...loaded?.describe(),
      random_weights: loaded?.randomWeights,
      attention: loaded?.attention && attentionInfo(loaded.attention),
      agreement: model.agreement && agreementWire(model.agreement),
      files: model.files,
      size_bytes: model.files?.reduce((total, file) => total + file.bytes, 0),
      instances: spec?.instances,
      intra_op_threads: spec?.intraOpThreads,
      /** configured, planned (the thread budget's share) or tuned (timed on this machine: --tune). */
      layout_source: spec && (spec.layoutSource ?? 'planned'),
      batching: spec && {
        max_batch_size: spec.maxBatchSize,
        max_queue_delay_ms: spec.maxQueueDelayMs,
        max_queue_size: spec.maxQueueSize,
      },
    };
  });
}

function gridWire(grid: PatchGrid) {
  return { rows: grid.rows, cols: grid.cols, patch_size: grid.patchSize, special_tokens: grid.specialTokens };
}

/** The patch grid, the sizes and the part of the photo the grid covers (attention and localisation answers). */
function placementWire({ grid, region, input, photo }: MapPlacement) {
  return {
    grid: gridWire(grid),
    region: { x: round(region.x), y: round(region.y), width: round(region.width), height: round(region.height) },
    input_size: input,
    image_size: photo,
  };
}

/** A map as rows of the grid (what numpy.array() takes). */
function gridRows(values: Float32Array, grid: { rows: number; cols: number }): number[][] {
  return Array.from({ length: grid.rows }, (_, r) => Array.from(values.subarray(r * grid.cols, (r + 1) * grid.cols)));
}

/** The attention answer both transports start from; each shapes `maps` and `png` its own way. */
export function attentionResponse(
  modelId: string,
  format: 'png' | 'json' | 'both',
  result: ExplainResult,
  predictions: Prediction[] | undefined,
  randomWeights: boolean,
) {
  const { timing } = result;
  return {
    model: modelId,
    method: result.method,
    layer: result.layer,
    heads: result.heads ?? null,
    format,
    ...placementWire(result),
    maps: result.maps,
    ...(predictions && { predictions }),
    png: result.png,
    timing: {
      preprocess_ms: round(timing.preprocessMs),
      queue_ms: round(timing.queueMs),
      inference_ms: round(timing.inferenceMs),
      render_ms: round(timing.renderMs),
      total_ms: round(timing.totalMs),
      batch_size: timing.batchSize,
    },
    random_weights: randomWeights,
  };
}

export type AttentionAnswer = ReturnType<typeof attentionResponse>;

/** HTTP JSON: each map as rows of the grid (what numpy.array() takes), the PNG as base64 with `both`. */
export function attentionJson(answer: AttentionAnswer) {
  const { maps, png, format: _format, ...rest } = answer;
  return {
    ...rest,
    maps: maps.map((map) => ({ ...(map.head !== undefined && { head: map.head }), values: gridRows(map.values, answer.grid) })),
    ...(png && { png_base64: Buffer.from(png).toString('base64') }),
  };
}

/** The gRPC message: maps as flat rows × cols floats, heads as text, the PNG as bytes. */
export function attentionMessage(answer: AttentionAnswer) {
  const { maps, png, format: _format, heads, ...rest } = answer;
  return {
    ...rest,
    heads: heads === null ? '' : String(heads),
    maps: maps.map((map) => ({ head: map.head === undefined ? '' : String(map.head), values: Array.from(map.values) })),
    png: png ?? new Uint8Array(),
  };
}

/** The localisation answer: image-level scores, and one map of patch cosines per label. */
export function localizeResponse(modelId: string, format: 'png' | 'json' | 'both', result: LocalizeResult, randomWeights: boolean) {
  const { timing } = result;
  return {
    model: modelId,
    format,
    predictions: result.predictions,
    ...placementWire(result),
    maps: result.maps,
    prompts: result.prompts,
    cache: result.cache,
    png: result.png,
    timing: {
      text_ms: round(timing.textMs),
      preprocess_ms: round(timing.preprocessMs),
      inference_ms: round(timing.inferenceMs),
      render_ms: round(timing.renderMs),
      total_ms: round(timing.totalMs),
    },
    random_weights: randomWeights,
  };
}

export type LocalizeAnswer = ReturnType<typeof localizeResponse>;

export function localizeJson(answer: LocalizeAnswer) {
  const { maps, png, format: _format, ...rest } = answer;
  return {
    ...rest,
    maps: maps.map((map) => ({ label: map.label, values: gridRows(map.values, answer.grid) })),
    ...(png && { png_base64: Buffer.from(png).toString('base64') }),
  };
}

export function localizeMessage(answer: LocalizeAnswer) {
  const { maps, png, format: _format, ...rest } = answer;
  return { ...rest, maps: maps.map((map) => ({ label: map.label, values: Array.from(map.values) })), png: png ?? new Uint8Array() };
}
