/**
 * Loads a captioner as a served model: the session workers (encoder and merged decoder in each),
 * an `encoder_model` component (warm-up, batcher) for the images, and the lockstep decode
 * scheduler on the same workers for the tokens.
 */
import { CAPTION_DECODER, CAPTION_ENCODER, loadCaptionerModel } from '../models/captioner/load-captioner.js';
import type { EncoderIo } from './batched-encoder.js';
import { createCaptioner, type Captioner } from './captioning.js';
import { CacheSizer } from './generation/cache-sizer.js';
import { LockstepScheduler, type SchedulerStats } from './generation/lockstep-scheduler.js';
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

export async function loadCaptioning(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<Captioner>> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  const model = await loadCaptionerModel({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  logFallbacks(model.pool, logger);
  try {
    const warmupStarted = performance.now();
    const io: EncoderIo = { session: CAPTION_ENCODER, inputName: 'pixel_values', itemDims: model.itemDims, outputName: 'last_hidden_state' };
    const encoder = await encoderComponent(model.pool, io, spec, deps);
    const { pastToPresent, encoderInput, projections, startTokenId, eosTokenIds } = model;
    // The warm-up caption teaches the sizer what a row's cache holds, before the bound applies.
    const cacheSizer = new CacheSizer();
    const decoder = { pool: model.pool, session: CAPTION_DECODER, pastToPresent, encoderInput, precompute: projections, startTokenId, eosTokenIds, cacheSizer };
    const limits = { maxActiveRows: MAX_COHORT_ROWS * spec.instances, maxCohortRows: MAX_COHORT_ROWS, maxQueued: spec.maxQueueSize, maxCacheBytes: deps.decodeCacheBytes, maxFormingMs: MAX_FORMING_MS };
    // Decoder warm-up, outside the metrics: a two-token caption of a blank image on each instance,
    // one cohort each (a cohort per instance: the next tick's requests would share one).
    const warmup = new LockstepScheduler(decoder, { ...limits, maxCohortRows: 1 });
    const blank = await encoder.batcher.submit(new Float32Array(model.itemDims.reduce((a, b) => a * b, 1)));
    await Promise.all(
      Array.from({ length: spec.instances }, () => warmup.submit({ encoderStates: { type: 'float32', dims: [1, ...blank.dims], data: blank.row.slice() }, maxNewTokens: 2 })),
    );
    const scheduler = new LockstepScheduler(decoder, limits, deps.generationEvents);
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [CAPTION_ENCODER]: encoder };
    return {
      family: 'vision-encoder-decoder',
      provider: model.pool.provider,
      randomWeights: model.randomWeights,
      handler: createCaptioner({ image: model.image, preprocessor: deps.preprocessor, encoder: encoder.batcher, scheduler, decode: model.decode, maxPositions: model.maxPositions }),
      components,
      describe: () => ({
        max_new_tokens_limit: model.maxPositions - 1,
        // Whether the decoder's encoder projections were split out at load (see the load log for why not).
        encoder_projections: projections ? 'once per caption' : 'every step',
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

/** What /v1/models shows of the decode scheduler now. */
function decodeSummary(stats: SchedulerStats) {
  const recent = stats.stepRows;
  return {
    active_rows: stats.activeRows,
    queued: stats.queued,
    cohorts: stats.cohorts,
    cache_bytes: stats.cacheBytes,
    reserved_cache_bytes: stats.reservedCacheBytes,
    recent_rows_per_step: recent.length > 0 ? Math.round((100 * recent.reduce((a, b) => a + b, 0)) / recent.length) / 100 : 0,
  };
}
