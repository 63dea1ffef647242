/** POST /v1/classify: image -> top-k labels. Parses and shapes only; the pipeline does the work. */
import type { RequestHandler } from 'express';
import type { ModelRegistry } from '../model-registry.js';
import { classifyRequestSchema, parseRequest } from '../schemas.js';
import { classifyResponse } from '../wire.js';

const RANDOM_WEIGHTS_NOTICE = 'this model has random weights (demo): its labels mean nothing';

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
    const body = classifyResponse(model.spec.id, result, model.loaded.randomWeights);
    res.json(body.random_weights ? { ...body, notice: RANDOM_WEIGHTS_NOTICE } : body);
  };
}
