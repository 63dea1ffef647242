/**
 * Image captioning as both transports run it. Over HTTP, `Accept: text/plain` answers with the
 * caption and a newline only, so `curl -F image=@photo.jpg …/v1/caption >> captions.txt` works.
 */
import { ApiError } from '../../errors.js';
import { captionRequestSchema, parseRequest } from '../schemas.js';
import { captionResponse } from '../wire.js';
import { callOptions, withRandomWeightsNotice, type TaskService } from './task-service.js';

export type CaptionAnswer = ReturnType<typeof captionResponse>;

export const captionService: TaskService<CaptionAnswer> = {
  task: 'image-to-text',
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(captionRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('image-to-text'));
    if (request.image.length > imageBytesLimit) {
      throw new ApiError('payload_too_large', `the image is ${request.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
    }
    const model = registry.resolve('image-to-text', request.model);
    const { timeoutMs, model: _model, ...input } = request;
    const result = await model.loaded.handler.caption(input, callOptions(call, timeoutMs));
    return captionResponse(model.id, result, model.loaded.randomWeights);
  },
  http: {
    path: '/v1/caption',
    answer: withRandomWeightsNotice,
    binary: (answer, request) => (request?.prefers('text/plain') ? { contentType: 'text/plain; charset=utf-8', body: new TextEncoder().encode(`${answer.caption}\n`) } : undefined),
  },
  grpc: {
    method: 'Caption',
    request: ({ image, model, max_new_tokens, min_new_tokens, temperature, top_k, top_p, seed, stop }) => ({
      image: image ?? new Uint8Array(),
      model,
      max_new_tokens,
      min_new_tokens,
      temperature,
      top_k,
      top_p,
      seed,
      stop: Array.isArray(stop) && stop.length === 0 ? undefined : stop,
    }),
  },
};
