/**
 * Loads a visual-chat model as a served model: the session workers (vision encoder, token
 * embeddings, decoder in each), the vision encoder as a batched component (images of concurrent
 * conversations share its runs), a bounded cache of image features, and the continuous-batching
 * decode scheduler on the same workers, whose steps embed their tokens in the worker.
 */
import { loadChatModel, CHAT_DECODER, CHAT_EMBED, CHAT_VISION, type ChatModel } from '../models/chat/load-chat-model.js';
import { generationDefaultsJson, readGenerationDefaults } from '../models/captioner/generation-config.js';
import type { SplitSettings } from '../models/image/image-views.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import { batchOutput, batchStacker, type EncodedRow } from './batched-encoder.js';
import type { RunBatch } from './batcher.js';
import { createChatPipeline, type ChatPipeline, type ImageFeatures } from './chat.js';
import { EmbeddingCache } from './embedding-cache.js';
import { CacheSizer } from './generation/cache-sizer.js';
import { decodeSummary } from './generation/decode-summary.js';
import { embeddedPromptInputs } from './generation/masked-inputs.js';
import { MaskedScheduler } from './generation/masked-scheduler.js';
import { closeModel, logFallbacks, warmedComponent, type LoadDeps, type LoadedModel, type ModelSpec } from './served-model.js';

/** Conversations decoding at once per instance (rows of one step). */
const MAX_BATCH_ROWS = 8;
/** How long a new batch waits, at most, for conversations whose images are still being encoded. */
const MAX_FORMING_MS = 250;

export async function loadChat(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<ChatPipeline>> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  const model = await loadChatModel({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  logFallbacks(model.pool, logger);
  if (model.groupQueryAttention) logger?.info('the decoder uses GroupQueryAttention: one conversation decodes at a time, the others queue');
  try {
    const warmupStarted = performance.now();
    const view = 3 * model.viewSize * model.viewSize;
    const split = imageSplitting(spec, model);
    const vision = await warmedComponent<Float32Array>(CHAT_VISION, visionRunBatch(model.pool, model.viewSize), () => new Float32Array(view), spec, deps);
    const cacheSizer = new CacheSizer();
    const defaults = await readGenerationDefaults(spec.dir);
    const decoder = {
      pool: model.pool,
      prefillSession: CHAT_DECODER,
      stepSession: CHAT_DECODER,
      pastToPresent: model.pastToPresent,
      growingPasts: Object.keys(model.pastToPresent),
      inputs: embeddedPromptInputs(CHAT_EMBED),
      eosTokenIds: model.eosTokenIds,
      instances: spec.instances,
      cacheSizer,
    };
    const limits = {
      // GroupQueryAttention: one conversation at a time (see load-chat-model.ts); the rest queue.
      maxActiveRows: model.groupQueryAttention ? 1 : MAX_BATCH_ROWS * spec.instances,
      maxCohortRows: model.groupQueryAttention ? 1 : MAX_BATCH_ROWS,
      maxQueued: spec.maxQueueSize,
      maxCacheBytes: deps.decodeCacheBytes,
      maxFormingMs: MAX_FORMING_MS,
    };
    const featureCache = new EmbeddingCache<ImageFeatures>({ maxBytes: deps.embeddingCacheBytes ?? 64 * 1024 * 1024, ...deps.embeddingCacheEvents });
    const pipeline = (scheduler: MaskedScheduler) =>
      createChatPipeline({
        modelKey: `${spec.id}:${spec.variant}`,
        image: model.image,
        ...(split && { split }),
        preprocessor: deps.preprocessor,
        vision: vision.batcher,
        featureCache,
        embed: (ids) => embedTokens(model.pool, ids),
        scheduler,
        template: model.template,
        imageTokens: model.imageTokens,
        hidden: model.hidden,
        maxPositions: model.maxPositions,
        encode: model.encode,
        decode: model.decode,
        defaults,
      });
    // Decoder warm-up, outside the metrics: a two-token answer on each instance (the sizer learns a row's cache here).
    const warmup = new MaskedScheduler(decoder, { ...limits, maxCohortRows: 1 });
    const text = (t: string) => [{ role: 'user' as const, content: [{ type: 'text' as const, text: t }] }];
    await Promise.all(Array.from({ length: spec.instances }, () => pipeline(warmup).complete({ messages: text('Hello'), maxNewTokens: 2 })));
    const scheduler = new MaskedScheduler(decoder, limits, deps.generationEvents);
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [CHAT_VISION]: vision };
    return {
      family: 'idefics3',
      provider: model.pool.provider,
      randomWeights: model.randomWeights,
      handler: pipeline(scheduler),
      components,
      describe: () => ({ ...describeChat(model, defaults, scheduler), image_splitting: split !== undefined }),
      pool: model.pool,
      loadSeconds,
      warmupSeconds,
      close: () => closeModel(components, model.pool),
    };
  } catch (error) {
    await model.pool.close();
    throw error;
  }
}

/** The model's image splitting when its settings ask for it (`image_splitting`: off by default, each image one view). */
function imageSplitting(spec: ModelSpec, model: ChatModel): SplitSettings | undefined {
  if (!spec.imageSplitting) return undefined;
  if (!model.splitLongestEdge) throw new Error(`model ${spec.id}: image_splitting needs preprocessor_config.json size.longest_edge`);
  return { longestEdge: model.splitLongestEdge, viewSize: model.viewSize };
}

/** Views stacked as [n, 1, 3, S, S] (one view per image) with an all-true pixel mask; one features row [tokens, hidden] each. */
function visionRunBatch(pool: WorkerPool, viewSize: number): RunBatch<Float32Array, EncodedRow> {
  const stacker = batchStacker({ inputName: 'pixel_values', itemDims: [1, 3, viewSize, viewSize] });
  return async (items) => {
    const feeds = stacker.stack(items);
    const mask = { type: 'bool' as const, dims: [items.length, 1, viewSize, viewSize], data: new Uint8Array(items.length * viewSize * viewSize).fill(1) };
    const started = performance.now();
    const outputs = await pool.run(CHAT_VISION, { ...feeds, pixel_attention_mask: mask }, ['image_features'], { onFeedsReturned: stacker.onFeedsReturned });
    const inferenceMs = performance.now() - started;
    const { data, rowDims, rowSize } = batchOutput(outputs, 'image_features', items.length);
    return items.map((_, i) => ({ row: data.slice(i * rowSize, (i + 1) * rowSize), dims: rowDims, batchSize: items.length, inferenceMs }));
  };
}

/** Token ids → their embeddings ([ids × hidden]), by the model's embed_tokens session. */
async function embedTokens(pool: WorkerPool, ids: number[]): Promise<Float32Array> {
  const outputs = await pool.run(CHAT_EMBED, { input_ids: { type: 'int64', dims: [1, ids.length], data: BigInt64Array.from(ids.map(BigInt)) } }, ['inputs_embeds']);
  return outputs.inputs_embeds!.data as Float32Array;
}

function describeChat(model: ChatModel, defaults: Awaited<ReturnType<typeof readGenerationDefaults>>, scheduler: MaskedScheduler) {
  return {
    chat_template: model.template.source,
    image_view_size: model.viewSize,
    image_tokens_per_view: model.imageTokens.perView,
    context_tokens: model.maxPositions,
    decode_batching: model.groupQueryAttention ? 'one conversation at a time (GroupQueryAttention decoder)' : 'continuous',
    generation_defaults: generationDefaultsJson(defaults),
    decode: decodeSummary(scheduler.stats),
  };
}
