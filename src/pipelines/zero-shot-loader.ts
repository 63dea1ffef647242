/**
 * Loads a CLIP model as a served model: one pool whose workers hold both towers, a `text_model`
 * component (token ids, padded per batch; bigger batches and queue: prompts are cheap and an
 * ensemble asks for many at once) and a `vision_model` component, the embedding cache, and the
 * zero-shot pipeline over them.
 */
import { AttentionUnavailableError } from '../models/attention/attention-taps.js';
import { CLIP_TEXT_SESSION, CLIP_VISION_SESSION, loadClipModel } from '../models/clip/load-clip.js';
import { attentionComponent, ATTENTION_COMPONENT } from './attention/attention-component.js';
import { createLabelLocalizer } from './attention/label-localizer.js';
import type { EncoderIo } from './batched-encoder.js';
import { EmbeddingCache } from './embedding-cache.js';
import { closeModel, encoderComponent, logFallbacks, warmedComponent, type LoadDeps, type LoadedModel, type ModelSpec } from './served-model.js';
import { InstanceSlots } from './instance-slots.js';
import { textEncoderRunBatch } from './text-encoder.js';
import { createClipPipeline, type CachedPrompt, type ClipPipeline } from './zero-shot.js';

/** The OpenAI checkpoints' trained exp(logit_scale); config.json only has the init value (2.6592 → 14.3). */
export const DEFAULT_LOGIT_SCALE = 100;
/** Text items are a few dozen ids: batch them wide. */
const TEXT_BATCH = 64;
/** A cold request may queue `max_prompts` (default 4,096) prompts at once, and several may come together. */
const TEXT_QUEUE_PER_IMAGE_SLOT = 64;

export async function loadZeroShot(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<ClipPipeline>> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  const clip = await loadClipModel({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  logFallbacks(clip.pool, logger);
  try {
    const warmupStarted = performance.now();
    // Both towers run on the same workers: their batchers share the instances, so a batch starts
    // only on a free one (no batch waits in the pool for the other tower's).
    const slots = new InstanceSlots(spec.instances);
    const text = await warmedComponent<readonly number[]>(
      CLIP_TEXT_SESSION,
      textEncoderRunBatch(clip.pool, {
        session: CLIP_TEXT_SESSION,
        outputName: 'text_embeds',
        padId: clip.tokenizer.padId,
        withAttentionMask: clip.textTakesAttentionMask,
      }),
      () => clip.tokenizer.encode('a photo of a cat.').ids,
      spec,
      deps,
      { maxBatchSize: Math.max(spec.maxBatchSize, TEXT_BATCH), maxQueueSize: spec.maxQueueSize * TEXT_QUEUE_PER_IMAGE_SLOT, slots },
    );
    const visionIo: EncoderIo = { session: CLIP_VISION_SESSION, inputName: 'pixel_values', itemDims: clip.imageDims, outputName: 'image_embeds' };
    const vision = await encoderComponent(clip.pool, visionIo, spec, deps, { ...spec, slots });
    const { taps, patchEmbeds } = clip.visionAttention;
    const explain = await attentionComponent(
      {
        pool: clip.pool,
        io: visionIo,
        taps,
        image: clip.image,
        preprocessor: deps.preprocessor,
        slots,
        patchSize: clip.visionPatchSize,
        extraTaps: typeof patchEmbeds === 'string' ? [patchEmbeds] : [],
      },
      spec,
      deps,
    );
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [CLIP_TEXT_SESSION]: text, [CLIP_VISION_SESSION]: vision, ...(explain && { [ATTENTION_COMPONENT]: explain.component }) };
    const cache = new EmbeddingCache<CachedPrompt>({ maxBytes: deps.embeddingCacheBytes ?? 64 * 1024 * 1024, ...deps.embeddingCacheEvents });
    const logitScale = spec.logitScale ?? DEFAULT_LOGIT_SCALE;
    const pipeline = createClipPipeline({
      modelId: spec.id,
      tokenizer: clip.tokenizer,
      image: clip.image,
      preprocessor: deps.preprocessor,
      textBatcher: text.batcher,
      visionBatcher: vision.batcher,
      cache,
      logitScale,
      dim: clip.projectionDim,
    });
    const localizer =
      explain && typeof patchEmbeds === 'string'
        ? createLabelLocalizer({
            clip: pipeline,
            batcher: explain.component.batcher,
            patchTap: patchEmbeds,
            grid: explain.explainer.grid,
            image: clip.image,
            preprocessor: deps.preprocessor,
            logitScale,
          })
        : // Localisation runs on the attention component: without it, say why that is missing.
          patchEmbeds instanceof AttentionUnavailableError
          ? patchEmbeds
          : taps instanceof AttentionUnavailableError
            ? taps
            : undefined;
    return {
      family: 'clip',
      provider: clip.pool.provider,
      randomWeights: clip.randomWeights,
      handler: { ...pipeline, localizer },
      components,
      attention: explain?.explainer ?? (taps as AttentionUnavailableError),
      describe: () => ({ embedding_dim: clip.projectionDim, logit_scale: logitScale }),
      pool: clip.pool,
      loadSeconds,
      warmupSeconds,
      close: () => closeModel(components, clip.pool),
    };
  } catch (error) {
    await clip.pool.close();
    throw error;
  }
}
