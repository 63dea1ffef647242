/** POST /v1/classify: image -> top-k labels. Parses and shapes only; the pipeline does the work. */
import type { RequestHandler } from 'express';
import type { ClassifyResult } from '../../pipelines/image-classification.js';
import type { ModelRegistry } from '../model-registry.js';
import { classifyRequestSchema, parseRequest } from '../schemas.js';

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
    ...(randomWeights ? { random_weights: true, notice: 'this model has random weights (demo): its labels mean nothing' } : {}),
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

export function classifyHandler(registry: ModelRegistry, defaultTimeoutMs: number): RequestHandler {
  return async (_req, res) => {
    const request = parseRequest(classifyRequestSchema, res.locals.rawRequest);
    const model = registry.resolve('image-classification', request.model);
    res.locals.modelId = model.spec.id;
    res.locals.log = res.locals.log.child({ task: 'image-classification', model: model.spec.id });
    const result = await model.loaded.classifier.classify(
      { image: request.image, topK: request.topK },
      { signal: res.locals.signal, deadlineMs: Date.now() + (request.timeoutMs ?? defaultTimeoutMs) },
    );
    res.json(classifyResponse(model.spec.id, result, model.loaded.randomWeights));
  };
}
