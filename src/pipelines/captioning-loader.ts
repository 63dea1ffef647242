/**
 * Loads a captioner as a served model: the session workers (encoder and merged decoder in each),
 * an `encoder_model` component (warm-up, batcher) for the images, and the lockstep decode
 * scheduler on the same workers for the tokens.
 */
import { CAPTION_DECODER, CAPTION_ENCODER, loadCaptionerModel } from '../models/captioner/load-captioner.js';
import type { EncoderIo } from './batched-encoder.js';
import { createCaptioner, type Captioner } from './captioning.js';
import { LockstepScheduler } from './generation/lockstep-scheduler.js';
import { closeModel, encoderComponent, logFallbacks, type LoadDeps, type LoadedModel, type ModelSpec } from './served-model.js';

/** Rows in one decode step: beyond this a cohort's step costs as much as two smaller ones on CPU. */
const MAX_COHORT_ROWS = 8;

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
    const decoder = { pool: model.pool, session: CAPTION_DECODER, pastToPresent, encoderInput, precompute: projections, startTokenId, eosTokenIds };
    const limits = { maxActiveRows: MAX_COHORT_ROWS * spec.instances, maxCohortRows: MAX_COHORT_ROWS, maxQueued: spec.maxQueueSize };
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
        decode: scheduler.stats,
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
