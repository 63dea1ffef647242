/**
 * Image classification as both transports run it: validate the raw request, pick the model,
 * call the pipeline, shape the answer. Transports only turn their wire format into the raw
 * object and the answer (or ApiError) back into theirs.
 */
import { ApiError } from '../errors.js';
import type { ModelRegistry } from './model-registry.js';
import { classifyRequestSchema, parseRequest } from './schemas.js';
import { classifyResponse } from './wire.js';

export interface CallContext {
  signal: AbortSignal;
  /** The transport's deadline (Date.now() ms); a request's `timeout_ms` can only shorten it. */
  deadlineMs: number;
  /** Set as soon as the target model is known: the `model` label of the request metrics. */
  metricModel: string;
}

export type ClassifyAnswer = ReturnType<typeof classifyResponse>;

export async function classifyService(registry: ModelRegistry, imageBytesLimit: number, raw: unknown, call: CallContext): Promise<ClassifyAnswer> {
  const request = parseRequest(classifyRequestSchema, raw);
  call.metricModel = registry.metricLabel(request.model ?? registry.defaultModelId('image-classification'));
  if (request.image.length > imageBytesLimit) {
    throw new ApiError('payload_too_large', `the image is ${request.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
  }
  const model = registry.resolve('image-classification', request.model);
  const deadlineMs = request.timeoutMs === undefined ? call.deadlineMs : Math.min(call.deadlineMs, Date.now() + request.timeoutMs);
  const result = await model.loaded.classifier.classify(
    { image: request.image, topK: request.topK },
    { signal: call.signal, deadlineMs },
  );
  return classifyResponse(model.id, result, model.loaded.randomWeights);
}
