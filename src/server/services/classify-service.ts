/**
 * Image classification as both transports run it: validate the raw request, pick the model,
 * call the pipeline, shape the answer.
 */
import { ApiError } from '../../errors.js';
import { classifyRequestSchema, parseRequest } from '../schemas.js';
import { classifyResponse } from '../wire.js';
import { callOptions, withRandomWeightsNotice, type TaskService } from './task-service.js';
import { classifyAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

export type ClassifyAnswer = ReturnType<typeof classifyResponse>;

export const classifyService: TaskService<ClassifyAnswer> = {
  task: 'image-classification',
  access: 'classify',
  schema: classifyRequestSchema,
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(classifyRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('image-classification'));
    if (request.image.length > imageBytesLimit) {
      throw new ApiError('payload_too_large', `the image is ${request.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
    }
    const model = registry.resolve('image-classification', request.model);
    const options = callOptions(call, request.timeoutMs);
    const result = await model.loaded.handler.classify({ image: request.image, topK: request.topK }, options);
    return classifyResponse(model.id, result, model.loaded.randomWeights);
  },
  http: { path: '/v1/classify', answer: withRandomWeightsNotice, example: { image: EXAMPLE_IMAGE, top_k: 3 }, answerSchema: classifyAnswer },
  grpc: {
    method: 'Classify',
    request: ({ image, top_k, model }) => ({ image: image ?? new Uint8Array(), top_k, model }),
  },
};
