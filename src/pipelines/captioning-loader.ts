/**
 * Loads a captioner as a served model: the session workers (image encoder and decoder sessions
 * in each), an image-encoder component (warm-up, batcher) for the images, and the decode
 * scheduler on the same workers for the tokens (continuous batching for BLIP, lockstep cohorts
 * for vit-gpt2).
 */
import type { CaptionerModelBase } from '../models/captioner/captioner-model.js';
import { generationDefaultsJson, readGenerationDefaults, type GenerationDefaults } from '../models/captioner/generation-config.js';
import { BLIP_PREFILL, BLIP_STEP, BLIP_VISION, loadBlipModel } from '../models/captioner/load-blip.js';
import { CAPTION_DECODER, CAPTION_ENCODER, loadCaptionerModel } from '../models/captioner/load-captioner.js';
import type { FamilyLoadOptions } from '../models/family-load-options.js';
import { readJsonFile } from '../models/hf-folder.js';
import type { EncoderIo } from './batched-encoder.js';
import { createCaptioner, type Captioner } from './captioning.js';
import { CacheSizer } from './generation/cache-sizer.js';
import type { DecodeScheduler, GenerationEvents, SchedulerLimits } from './generation/decode-scheduler.js';
import { LockstepScheduler } from './generation/lockstep-scheduler.js';
import { MaskedScheduler } from './generation/masked-scheduler.js';
import { decodeSummary } from './generation/decode-summary.js';
import { closeModel, encoderComponent, logFallbacks, type LoadDeps, type LoadedModel, type ModelSpec } from './served-model.js';

/** Rows in one decode step: beyond this a cohort's step costs as much as two smaller ones on CPU. */
const MAX_COHORT_ROWS = 8;
/**
 * How long a new cohort waits, at most, for images still in the encoder to join it: rows that
 * miss it wait for a whole cohort to finish, or run beside it in a smaller one. The wait ends as
 * soon as no image is in the encoder (at once for a lone request; in milliseconds on a GPU); on
 * a 2-core CPU eight fp32 ViT-B/16 images take ~1.5 s, and at 8 clients 250 ms gave cohorts of
 * 4 + 1, 1 s of 5 + 3, 2 s of 8 (2.0, 2.45, 2.8 captions/s).
 */
const MAX_FORMING_MS = 2000;

/** What the loader needs of either family: its sessions, its decoding, and its scheduler. */
interface OpenedCaptioner extends CaptionerModelBase {
  family: string;
  /** Its generation_config.json's decoding defaults. */
  defaults: GenerationDefaults;
  encoderSession: string;
  encodePrompt?(text: string): number[];
  scheduler(limits: SchedulerLimits, events?: GenerationEvents): DecodeScheduler;
  describe(): Record<string, unknown>;
}

/**
 * A BLIP folder (config.json `model_type: blip`) decodes with a mask, in continuous batches; a
 * vision-encoder-decoder one (vit-gpt2) in lockstep cohorts, its encoder projections split out.
 */
async function openCaptioner(options: FamilyLoadOptions, instances: number, cacheSizer: CacheSizer): Promise<OpenedCaptioner> {
  const config = await readJsonFile<{ model_type?: string }>(options.dir, 'config.json');
  const defaults = await readGenerationDefaults(options.dir);
  if (config.model_type === 'blip') {
    const model = await loadBlipModel(options);
    const { pool, startTokenId, eosTokenIds, padTokenId, pastToPresent, growingPasts } = model;
    const decoder = { pool, prefillSession: BLIP_PREFILL, stepSession: BLIP_STEP, pastToPresent, growingPasts, encoderInput: 'encoder_hidden_states', padTokenId, startTokenId, eosTokenIds, instances, cacheSizer };
    return { ...model, defaults, family: 'blip', encoderSession: BLIP_VISION, scheduler: (limits, events) => new MaskedScheduler(decoder, limits, events), describe: () => ({ decode_batching: 'continuous' }) };
  }
  const model = await loadCaptionerModel(options);
  const { pool, pastToPresent, encoderInput, projections, startTokenId, eosTokenIds } = model;
  const decoder = { pool, session: CAPTION_DECODER, pastToPresent, encoderInput, precompute: projections, startTokenId, eosTokenIds, cacheSizer };
  return {
    ...model,
    defaults,
    family: 'vision-encoder-decoder',
    encoderSession: CAPTION_ENCODER,
    scheduler: (limits, events) => new LockstepScheduler(decoder, limits, events),
    // Whether the decoder's encoder projections were split out at load (see the load log for why not).
    describe: () => ({ decode_batching: 'lockstep', encoder_projections: projections ? 'once per caption' : 'every step' }),
  };
}

export async function loadCaptioning(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<Captioner>> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  // The warm-up caption teaches the sizer what a row's cache holds, before the bound applies.
  const cacheSizer = new CacheSizer();
  const model = await openCaptioner({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced }, spec.instances, cacheSizer);
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  logFallbacks(model.pool, logger);
  try {
    const warmupStarted = performance.now();
    const io: EncoderIo = { session: model.encoderSession, inputName: 'pixel_values', itemDims: model.itemDims, outputName: 'last_hidden_state' };
    const encoder = await encoderComponent(model.pool, io, spec, deps);
    const limits = { maxActiveRows: MAX_COHORT_ROWS * spec.instances, maxCohortRows: MAX_COHORT_ROWS, maxQueued: spec.maxQueueSize, maxCacheBytes: deps.decodeCacheBytes, maxFormingMs: MAX_FORMING_MS };
    // Decoder warm-up, outside the metrics: a two-token caption of a blank image on each
    // instance, one group each (groups of one row: the next tick's requests would share one).
    const warmup = model.scheduler({ ...limits, maxCohortRows: 1 });
    const blank = await encoder.batcher.submit(new Float32Array(model.itemDims.reduce((a, b) => a * b, 1)));
    await Promise.all(
      Array.from({ length: spec.instances }, () => warmup.submit({ encoderStates: { type: 'float32', dims: [1, ...blank.dims], data: blank.row.slice() }, maxNewTokens: 2, sampling: { minNewTokens: 2 } })),
    );
    const scheduler = model.scheduler(limits, deps.generationEvents);
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [model.encoderSession]: encoder };
    const { image, decode, maxPositions, encodePrompt, defaults } = model;
    return {
      family: model.family,
      provider: model.pool.provider,
      randomWeights: model.randomWeights,
      handler: createCaptioner({ image, preprocessor: deps.preprocessor, encoder: encoder.batcher, scheduler, decode, maxPositions, defaults, ...(encodePrompt && { encodePrompt }) }),
      components,
      describe: () => ({
        max_new_tokens_limit: maxPositions - 1,
        prompt: encodePrompt !== undefined,
        generation_defaults: generationDefaultsJson(defaults),
        ...model.describe(),
        decode: decodeSummary(scheduler.stats),
      }),
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
