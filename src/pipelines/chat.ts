/**
 * Visual chat (docs/architecture.md, "Visual chat"): a conversation with images → the chat
 * template's prompt (each image a view of image tokens) → token embeddings with the vision
 * encoder's features in place of the image tokens → the continuous-batching decode scheduler →
 * the assistant's answer, streamed as it grows, cut at stop strings. An image seen before (the
 * same bytes: clients re-send every turn's images) is not encoded again.
 *
 *   const { text, finishReason } = await chat.complete({ messages, maxNewTokens: 64 }, { signal });
 */
import { createHash } from 'node:crypto';
import { ApiError } from '../errors.js';
import type { ChatTemplate, TemplateMessage } from '../models/chat/chat-template.js';
import { expandImagePlaceholders, spliceImageFeatures, type ImagePromptTokens, type ViewGrid } from '../models/chat/image-tokens.js';
import type { GenerationDefaults } from '../models/captioner/generation-config.js';
import type { ImageProcessorSettings } from '../models/image/index.js';
import type { SplitSettings } from '../models/image/image-views.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { EncodedRow } from './batched-encoder.js';
import type { Batcher } from './batcher.js';
import type { EmbeddingCache } from './embedding-cache.js';
import type { DecodeScheduler, FinishReason, SequenceResult } from './generation/decode-scheduler.js';
import { IncrementalText } from './generation/incremental-text.js';
import type { SamplingOptions } from './generation/sampling.js';
import { throwIfCancelled, withDeadline } from './generation/sequence-deadline.js';
import { whileWanted } from './call-scope.js';
import type { CallOptions } from './image-classification.js';

/** Answer tokens when neither the request nor the model says. */
export const DEFAULT_CHAT_MAX_NEW_TOKENS = 256;

export type ChatPart = { type: 'text'; text: string } | { type: 'image'; image: Uint8Array };

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: ChatPart[];
}

export interface ChatInput extends Pick<SamplingOptions, 'temperature' | 'topP' | 'seed' | 'minNewTokens'> {
  messages: ChatMessage[];
  /** Unset: the model's default (generation_config.json), else 256. */
  maxNewTokens?: number;
  /** The answer ends before the first of these (which is left out). */
  stop?: string[];
  /** Receives the answer's text as it grows (streaming). */
  onText?: (delta: string) => void;
}

export interface ChatResult {
  text: string;
  promptTokens: number;
  completionTokens: number;
  finishReason: FinishReason;
  /** Images whose features came from the cache. */
  cachedImages: number;
  timing: { encodeMs: number; decodeMs: number; totalMs: number };
}

export interface ChatPipeline {
  complete(input: ChatInput, options?: CallOptions): Promise<ChatResult>;
  /** The model's context: a conversation's prompt (images included) and its answer together. */
  readonly maxPositions: number;
}

export interface ChatDeps {
  /** Cache keys start with it (the model and its tag). */
  modelKey: string;
  image: ImageProcessorSettings;
  /** Set when images are split into tiles and a global view (else one view each). */
  split?: SplitSettings;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'splitViews' | 'recycle'>;
  /** The vision encoder's batcher: one view's pixels → its features [tokens, hidden]. */
  vision: Pick<Batcher<Float32Array, EncodedRow>, 'submit'>;
  /** Each image's features (all its views, [views × tokens × hidden]) and its tile grid. */
  featureCache: EmbeddingCache<ImageFeatures>;
  /** Token ids → their embeddings [ids.length × hidden]. */
  embed(ids: number[], options: CallOptions): Promise<Float32Array>;
  scheduler: Pick<DecodeScheduler, 'submit' | 'expect'>;
  template: ChatTemplate;
  imageTokens: ImagePromptTokens;
  hidden: number;
  maxPositions: number;
  encode(text: string): number[];
  decode(ids: number[]): string;
  defaults?: GenerationDefaults;
}

export function createChatPipeline(deps: ChatDeps): ChatPipeline {
  /**
   * An image's features: from the cache (same bytes, same model), else preprocessed and encoded.
   * The encoding may be shared with concurrent conversations sending the same image, so it runs
   * under no caller's signal; each caller waits under its own.
   */
  const featuresOf = async (image: Uint8Array, options: CallOptions): Promise<ImageFeatures & { cached: boolean }> => {
    const key = `${deps.modelKey}\0${createHash('sha256').update(image).digest('base64')}`;
    const cached = deps.featureCache.get(key);
    if (cached) return { ...cached, cached: true };
    const shared = deps.featureCache.getOrCompute(key, () => encodeImage(image, { transferImage: options.transferImage }));
    return { ...(await whileWanted(shared, options, 'the image was encoded')), cached: false };
  };

  /** An image's views through the vision encoder (each view an item of its batcher). */
  const encodeImage = async (image: Uint8Array, options: CallOptions): Promise<ImageFeatures> => {
    if (!deps.split) {
      const { pixelValues } = await deps.preprocessor.preprocess(image, deps.image, options);
      const encoded = await deps.vision.submit(pixelValues);
      deps.preprocessor.recycle(pixelValues);
      return { vector: encoded.row, rows: 0, cols: 0 };
    }
    const { pixelValues, views, rows, cols } = await deps.preprocessor.splitViews(image, deps.image, deps.split, options);
    const plane = pixelValues.length / views;
    const encoded = await Promise.all(Array.from({ length: views }, (_, i) => deps.vision.submit(pixelValues.subarray(i * plane, (i + 1) * plane))));
    const vector = new Float32Array(encoded.reduce((sum, e) => sum + e.row.length, 0));
    encoded.reduce((offset, e) => (vector.set(e.row, offset), offset + e.row.length), 0);
    return { vector, rows, cols };
  };

  return {
    maxPositions: deps.maxPositions,
    async complete(input, options = {}) {
      const started = performance.now();
      const images = input.messages.flatMap((message) => message.content.flatMap((part) => (part.type === 'image' ? [part.image] : [])));
      const rendered = deps.template.render(input.messages.map(templateMessage));
      const maxNewTokens = input.maxNewTokens ?? deps.defaults?.maxNewTokens ?? DEFAULT_CHAT_MAX_NEW_TOKENS;
      // Checked before any image is encoded, with each image at its fewest tokens (one view).
      const promptTokens = (grids: readonly ViewGrid[]) => deps.encode(expandImagePlaceholders(rendered, deps.imageTokens, grids));
      const unsplit = promptTokens(images.map(() => ({ rows: 0, cols: 0 })));
      checkRoom(unsplit.length, maxNewTokens, deps.maxPositions);
      const text = new AnswerText(deps.decode, input.stop ?? []);
      // The scheduler holds a new batch for this conversation while its images are encoded.
      const arrived = deps.scheduler.expect();
      const deadline = withDeadline(options);
      let submitted: Promise<SequenceResult>;
      let cachedImages = 0;
      let encodeMs: number;
      let ids: number[];
      try {
        const features = await Promise.all(images.map((image) => featuresOf(image, options)));
        cachedImages = features.filter((f) => f.cached).length;
        ids = deps.split ? promptTokens(features) : unsplit;
        checkRoom(ids.length, maxNewTokens, deps.maxPositions);
        const embeds = await deps.embed(ids, options);
        spliceImageFeatures(ids, embeds, features.map((f) => f.vector), deps.imageTokens, deps.hidden);
        encodeMs = performance.now() - started;
        submitted = deps.scheduler.submit({
          promptIds: ids,
          promptEmbeds: { type: 'float32', dims: [1, ids.length, deps.hidden], data: embeds },
          maxNewTokens,
          sampling: {
            temperature: input.temperature ?? deps.defaults?.temperature,
            topP: input.topP ?? deps.defaults?.topP,
            topK: deps.defaults?.topK,
            repetitionPenalty: deps.defaults?.repetitionPenalty,
            seed: input.seed,
            minNewTokens: input.minNewTokens,
          },
          signal: deadline.signal,
          onToken: (token) => {
            const { delta, stopped } = text.push(token);
            if (delta) input.onText?.(delta);
            return stopped;
          },
        });
      } catch (error) {
        deadline.dispose();
        throw error;
      } finally {
        arrived();
      }
      const result = await submitted.finally(() => deadline.dispose());
      throwIfCancelled(result, options, 'answer');
      const totalMs = performance.now() - started;
      return {
        text: text.text,
        promptTokens: ids.length,
        completionTokens: result.tokens.length,
        finishReason: result.finishReason,
        cachedImages,
        timing: { encodeMs, decodeMs: totalMs - encodeMs, totalMs },
      };
    },
  };
}

/** An image's features over all its views, and its tile grid (0 × 0: one view). */
export interface ImageFeatures extends ViewGrid {
  vector: Float32Array;
}

function checkRoom(promptTokens: number, maxNewTokens: number, maxPositions: number): void {
  if (promptTokens + maxNewTokens > maxPositions) {
    throw new ApiError('invalid_request', `the conversation takes ${promptTokens} tokens (images included) and asks for ${maxNewTokens} more; this model has room for ${maxPositions}`);
  }
}

/** A message as chat templates read it: text parts and image placeholders. */
function templateMessage(message: ChatMessage): TemplateMessage {
  return { role: message.role, content: message.content.map((part) => (part.type === 'text' ? { type: 'text', text: part.text } : { type: 'image' })) };
}

/**
 * The answer's text as tokens arrive, without the whitespace it starts with (byte-level BPE
 * answers begin with a space token after "Assistant:").
 */
class AnswerText {
  private readonly inner: IncrementalText;
  private started = false;

  constructor(decode: (ids: number[]) => string, stops: readonly string[]) {
    this.inner = new IncrementalText(decode, stops);
  }

  get text(): string {
    return this.inner.text.trimStart();
  }

  push(id: number): { delta: string; stopped: boolean } {
    const { delta, stopped } = this.inner.push(id);
    if (this.started || !delta) return { delta, stopped };
    const trimmed = delta.trimStart();
    this.started = trimmed.length > 0;
    return { delta: trimmed, stopped };
  }
}
