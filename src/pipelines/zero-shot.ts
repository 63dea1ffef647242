/**
 * CLIP zero-shot classification: each label becomes one or more prompts (zero-shot-prompts.ts),
 * prompts are embedded by the text tower through the embedding cache (a label set asked again
 * never reaches the tower), images by the vision tower, and each image scores every label by
 * softmax(scale · cosine) — or, with `multiLabel`, by the cosine itself, for callers that test
 * labels one by one against a threshold.
 *
 * @example
 *   const result = await clip.zeroShot({ images: [bytes], labels: ['cat', 'dog'], strategy: 'template', topK: 2, multiLabel: false });
 *   // result.images[0].predictions → [{ label: 'cat', score: 0.93 }, { label: 'dog', score: 0.07 }]
 */
import { ApiError } from '../errors.js';
import type { AttentionUnavailableError } from '../models/attention/attention-taps.js';
import type { ImageProcessorSettings } from '../models/image/index.js';
import type { LabelLocalizer } from './attention/label-localizer.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { ClipTokenizer } from '../models/clip/clip-tokenizer.js';
import type { EncodedRow } from './batched-encoder.js';
import type { Batcher } from './batcher.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { CallOptions } from './image-classification.js';
import { inCallScope, whileWanted } from './call-scope.js';
import { dot, softmax, topK } from './scores.js';
import { meanOfNormalised, normalise, promptCount, promptsFor, type PromptRequest } from './zero-shot-prompts.js';

export interface ZeroShotInput extends PromptRequest {
  images: readonly Uint8Array[];
  /** Applied to each image embedding before scoring (a fitted alignment's map). */
  alignImage?: (embedding: Float32Array) => Float32Array;
  topK: number;
  multiLabel: boolean;
  /** Most prompts (labels × templates) one request may embed; more is `invalid_request`. */
  maxPrompts?: number;
}

export interface LabelScore {
  label: string;
  score: number;
}

export interface ZeroShotResult {
  images: { predictions: LabelScore[] }[];
  /** The prompts each label was embedded as, in label order. */
  prompts: { label: string; texts: string[] }[];
  /** Prompts longer than the text tower takes, cut to fit. */
  truncatedPrompts: string[];
  /** Prompts whose embedding came from the cache / had to be computed. */
  cache: { hits: number; misses: number };
  timing: { textMs: number; preprocessMs: number; imageMs: number; totalMs: number };
}

/** What the cache keeps per prompt: its embedding, and what tokenizing it said (so a hit tokenizes nothing). */
export interface CachedPrompt {
  vector: Float32Array;
  tokens: number;
  truncated: boolean;
}

export interface ClipPipelineDeps {
  /** Cache keys start with it: the served id, tag included. */
  modelId: string;
  tokenizer: ClipTokenizer;
  image: ImageProcessorSettings;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle'>;
  textBatcher: Pick<Batcher<readonly number[], EncodedRow>, 'submit'>;
  visionBatcher: Pick<Batcher<Float32Array, EncodedRow>, 'submit'>;
  cache: EmbeddingCache<CachedPrompt>;
  /** exp(logit_scale) of the trained model: 100 for the OpenAI checkpoints. */
  logitScale: number;
  /** The embeddings' dimensions. */
  dim: number;
}

/** Each label's embedding (its prompts' normalised mean) and how the prompts went. */
export interface LabelEmbeddings {
  vectors: Float32Array[];
  prompts: string[][];
  truncated: string[];
  hits: number;
  misses: number;
}

export interface ClipPipeline {
  /** Dimensions of the embeddings (the projection). */
  readonly dim: number;
  /** Where each label is in an image, when the vision tower's patch embeddings could be exposed, or why not. */
  readonly localizer?: LabelLocalizer | AttentionUnavailableError;
  /** The labels' embeddings under a prompt strategy, through the cache. `maxPrompts` bounds the prompts. */
  labelEmbeddings(request: PromptRequest & { maxPrompts?: number }, options?: CallOptions): Promise<LabelEmbeddings>;
  zeroShot(input: ZeroShotInput, options?: CallOptions): Promise<ZeroShotResult>;
  /** L2-normalised text embeddings (through the cache), and which prompts were truncated. */
  embedTexts(
    texts: readonly string[],
    options?: CallOptions,
  ): Promise<{ vectors: Float32Array[]; truncated: string[]; hits: number; misses: number; tokens: number }>;
  /** The L2-normalised embedding of one image. */
  embedImage(bytes: Uint8Array, options?: CallOptions): Promise<{ vector: Float32Array; preprocessMs: number; inferenceMs: number }>;
}

export function createClipPipeline(deps: ClipPipelineDeps): ClipPipeline {
  const { tokenizer, cache } = deps;
  // A one-prompt label's vector, kept beside its cached prompt vector (and dropped with it): a
  // warm request does no per-label arithmetic. Ensembles average their prompts each time.
  const oneLabelVector = new WeakMap<Float32Array, Float32Array>();
  const labelVector = (group: Float32Array[]): Float32Array => {
    if (group.length !== 1) return meanOfNormalised(group);
    let vector = oneLabelVector.get(group[0]!);
    if (!vector) oneLabelVector.set(group[0]!, (vector = meanOfNormalised(group)));
    return vector;
  };

  async function embedTexts(texts: readonly string[], options: CallOptions = {}) {
    const entries: CachedPrompt[] = new Array(texts.length);
    let hits = 0;
    let misses = 0;
    const keyOf = (text: string) => `${deps.modelId}\0${text.slice(0, tokenizer.maxChars)}`;
    // Hits first, synchronously: a warm request of 100 labels sets up no timer or listener per prompt.
    const missing: number[] = [];
    texts.forEach((text, i) => {
      const cached = cache.get(keyOf(text));
      if (cached) {
        entries[i] = cached;
        hits++;
      } else missing.push(i);
    });
    await Promise.all(
      missing.map(async (i) => {
        const text = texts[i]!;
        let computed = false;
        // A shared computation is not tied to the caller who started it (its leaving or its
        // deadline must not fail the others): each caller waits under its own signal and deadline.
        const shared = cache.getOrCompute(keyOf(text), async () => {
          computed = true;
          const encoded = tokenizer.encode(text);
          const vector = normalise((await deps.textBatcher.submit(encoded.ids)).row);
          return { vector, tokens: encoded.ids.length, truncated: encoded.truncated };
        });
        entries[i] = await whileWanted(shared, options, 'the text embeddings');
        if (computed) misses++;
        else hits++;
      }),
    );
    const truncated = texts.filter((_, i) => entries[i]!.truncated);
    const tokens = entries.reduce((sum, entry) => sum + entry.tokens, 0);
    return { vectors: entries.map((entry) => entry.vector), truncated: [...new Set(truncated)], hits, misses, tokens };
  }

  async function embedImage(bytes: Uint8Array, options: CallOptions = {}) {
    const started = performance.now();
    const { pixelValues } = await deps.preprocessor.preprocess(bytes, deps.image, options);
    const preprocessMs = performance.now() - started;
    const result = await deps.visionBatcher.submit(pixelValues, options);
    deps.preprocessor.recycle(pixelValues); // the batch copied it and has run
    return { vector: normalise(result.row), preprocessMs, inferenceMs: result.inferenceMs };
  }

  async function labelEmbeddings(request: PromptRequest & { maxPrompts?: number }, options: CallOptions = {}): Promise<LabelEmbeddings> {
    const count = promptCount(request);
    if (request.maxPrompts !== undefined && count > request.maxPrompts) {
      throw new ApiError('invalid_request', `${request.labels.length} labels make ${count} prompts, over the limit of ${request.maxPrompts} per request`);
    }
    const prompts = promptsFor(request);
    const texts = await embedTexts(prompts.flat(), options);
    let next = 0;
    const vectors = prompts.map((group) => labelVector(texts.vectors.slice(next, (next += group.length))));
    return { vectors, prompts, truncated: texts.truncated, hits: texts.hits, misses: texts.misses };
  }

  return {
    dim: deps.dim,
    labelEmbeddings,
    embedTexts,
    embedImage,
    async zeroShot(input, options = {}) {
      const started = performance.now();
      // Texts and images at once: the two towers run side by side (one Promise.all, so a failure
      // on either side is handled; the call scope then stops the other side's work).
      const [texts, images] = await inCallScope(options, (scoped) =>
        Promise.all([
          labelEmbeddings(input, scoped).then((done) => ({ ...done, textMs: performance.now() - started })),
          Promise.all(input.images.map((bytes) => embedImage(bytes, scoped))),
        ]),
      );
      const prompts = texts.prompts;
      const labelVectors = texts.vectors;
      const results = images.map(({ vector: raw }) => ({
        predictions: scoreLabels(labelVectors, input.alignImage ? input.alignImage(raw) : raw, input, deps.logitScale),
      }));
      return {
        images: results,
        prompts: input.labels.map((label, i) => ({ label, texts: prompts[i]! })),
        truncatedPrompts: texts.truncated,
        cache: { hits: texts.hits, misses: texts.misses },
        timing: {
          textMs: texts.textMs,
          preprocessMs: sum(images.map((i) => i.preprocessMs)),
          imageMs: sum(images.map((i) => i.inferenceMs)),
          totalMs: performance.now() - started,
        },
      };
    },
  };
}

/**
 * One image's labels, best first: softmax(scale · cosine) over the labels, or the cosine itself
 * with `multiLabel`; the `topK` best (at most every label).
 */
export function scoreLabels(
  labelVectors: readonly Float32Array[],
  image: Float32Array,
  request: { labels: readonly string[]; topK: number; multiLabel: boolean },
  logitScale: number,
): LabelScore[] {
  const cosines = labelVectors.map((label) => dot(label, image));
  const scores: ArrayLike<number> = request.multiLabel ? cosines : softmax(cosines.map((c) => c * logitScale));
  return topK(scores, Math.min(request.topK, request.labels.length)).map((i) => ({ label: request.labels[i]!, score: scores[i]! }));
}

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
