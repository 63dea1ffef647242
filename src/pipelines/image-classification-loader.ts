/**
 * Loads a ViT image classifier as a served model: the session workers, one `model` component
 * (warm-up, batcher) and the classifier pipeline over it.
 */
import { loadVitModel, VIT_SESSION } from '../models/vit/load-vit.js';
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
    const model = await encoderComponent(vit.pool, { session: VIT_SESSION, inputName: 'pixel_values', itemDims: vit.itemDims, outputName: 'logits' }, spec, deps);
    const warmupSeconds = (performance.now() - warmupStarted) / 1000;
    const components = { [VIT_SESSION]: model };
    return {
      family: 'vit',
      provider: vit.pool.provider,
      randomWeights: vit.randomWeights,
      handler: createImageClassifier({ labels: vit.labels, image: vit.image, preprocessor: deps.preprocessor, batcher: model.batcher }),
      components,
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
