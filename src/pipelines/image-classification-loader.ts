/**
 * Loads a ViT image classifier as a served model: the session workers, a `model` component
 * (warm-up, batcher) and the classifier pipeline over it, and, when the graph's attention can be
 * read, an `attention` component on the same workers for attention maps.
 */
import { AttentionUnavailableError } from '../models/attention/attention-taps.js';
import { loadVitModel, VIT_SESSION } from '../models/vit/load-vit.js';
import { attentionComponent, ATTENTION_COMPONENT } from './attention/attention-component.js';
import type { EncoderIo } from './batched-encoder.js';
import { InstanceSlots } from './instance-slots.js';
import { createImageClassifier, type ImageClassifier } from './image-classification.js';
import { closeModel, encoderComponent, logFallbacks, type LoadDeps, type LoadedModel, type ModelSpec } from './served-model.js';

export async function loadImageClassification(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<ImageClassifier>> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  const vit = await loadVitModel({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  logFallbacks(vit.pool, logger);
  try {
    const warmupStarted = performance.now();
    const io: EncoderIo = { session: VIT_SESSION, inputName: 'pixel_values', itemDims: vit.itemDims, outputName: 'logits' };
    // Plain and attention runs share the workers: a batch starts only on a free instance.
    const slots = new InstanceSlots(spec.instances);
    const model = await encoderComponent(vit.pool, io, spec, deps, { ...spec, slots });
    const explain = await attentionComponent(
      { pool: vit.pool, io, taps: vit.attention, image: vit.image, preprocessor: deps.preprocessor, slots, patchSize: vit.patchSize },
      spec,
      deps,
    );
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [VIT_SESSION]: model, ...(explain && { [ATTENTION_COMPONENT]: explain.component }) };
    return {
      family: 'vit',
      provider: vit.pool.provider,
      randomWeights: vit.randomWeights,
      handler: createImageClassifier({ labels: vit.labels, image: vit.image, preprocessor: deps.preprocessor, batcher: model.batcher }),
      components,
      attention: explain?.explainer ?? (vit.attention as AttentionUnavailableError),
      describe: () => ({ num_labels: vit.labels.length }),
      pool: vit.pool,
      loadSeconds,
      warmupSeconds,
      close: () => closeModel(components, vit.pool),
    };
  } catch (error) {
    await vit.pool.close();
    throw error;
  }
}
