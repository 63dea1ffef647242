/**
 * Label localisation as both transports run it (`POST /v1/zero-shot/localize`, gRPC `Localize`):
 * where each label is in the image, from a CLIP model's patch embeddings, with the image-level
 * zero-shot scores of the same run.
 */
import { ApiError } from '../../errors.js';
import { AttentionUnavailableError } from '../../models/attention/attention-taps.js';
import { localizeRequestSchema, parseRequest } from '../schemas.js';
import { localizeJson, localizeMessage, localizeResponse, type LocalizeAnswer } from '../wire.js';
import { pngReply } from './attention-service.js';
import { callOptions, promptFieldsFromMessage, type TaskService } from './task-service.js';
import { localizeAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

export const localizeService: TaskService<LocalizeAnswer> = {
  task: 'zero-shot-image-classification',
  access: 'localize',
  name: 'localize',
  schema: localizeRequestSchema,
  async run({ registry, imageBytesLimit, maxPrompts }, raw, call) {
    const request = parseRequest(localizeRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('zero-shot-image-classification'));
    if (request.image.length > imageBytesLimit) {
      throw new ApiError('payload_too_large', `the image is ${request.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
    }
    const model = registry.resolve('zero-shot-image-classification', request.model);
    const { localizer } = model.loaded.handler;
    if (localizer === undefined) throw new ApiError('invalid_request', `model '${model.id}' does not serve label localisation`);
    if (localizer instanceof AttentionUnavailableError) throw new ApiError('invalid_request', localizer.message);
    const result = await localizer.localize(
      { ...request, maxPrompts, render: request.format === 'json' ? undefined : request.style },
      callOptions(call, request.timeoutMs),
    );
    return localizeResponse(model.id, request.format, result, model.loaded.randomWeights);
  },
  http: { path: '/v1/zero-shot/localize', multipart: { files: 1, fields: 200 }, answer: localizeJson, binary: pngReply, example: { image: EXAMPLE_IMAGE, labels: ['cat', 'sofa'], format: 'json' }, answerSchema: localizeAnswer },
  grpc: {
    method: 'Localize',
    request: ({ image, templates, descriptions, ...rest }) => ({ ...rest, image: image ?? new Uint8Array(), ...promptFieldsFromMessage(templates, descriptions) }),
    answer: localizeMessage,
  },
};
