/**
 * CLIP zero-shot classification as both transports run it: `POST /v1/zero-shot` and gRPC
 * `ZeroShot`. Validates, resolves the model, runs the pipeline, shapes the answer.
 */
import { ApiError } from '../../errors.js';
import { parseRequest, zeroShotRequestSchema } from '../schemas.js';
import { zeroShotResponse } from '../wire.js';
import { alignmentFor } from './alignment-service.js';
import { callOptions, promptFieldsFromMessage, withRandomWeightsNotice, type TaskService } from './task-service.js';
import { zeroShotAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

export type ZeroShotAnswer = ReturnType<typeof zeroShotResponse>;

export const zeroShotService: TaskService<ZeroShotAnswer> = {
  task: 'zero-shot-image-classification',
  access: 'zero-shot',
  schema: zeroShotRequestSchema,
  async run({ registry, imageBytesLimit, maxPrompts, alignments }, raw, call) {
    const request = parseRequest(zeroShotRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('zero-shot-image-classification'));
    for (const image of request.images) {
      if (image.length > imageBytesLimit) {
        throw new ApiError('payload_too_large', `an image is ${image.length} bytes, over the ${imageBytesLimit}-byte limit`);
      }
    }
    const model = registry.resolve('zero-shot-image-classification', request.model);
    const options = callOptions(call, request.timeoutMs);
    const alignImage = request.alignment === undefined ? undefined : alignmentFor(alignments, request.alignment, model.id, model.loaded.handler.dim);
    const result = await model.loaded.handler.zeroShot({ ...request, maxPrompts, alignImage }, options);
    return zeroShotResponse(model.id, request, result, model.loaded.randomWeights);
  },
  // Repeated `labels` fields: up to 1,000 labels and the other fields.
  http: { path: '/v1/zero-shot', multipart: { files: 1, fields: 1100 }, answer: withRandomWeightsNotice, example: { image: EXAMPLE_IMAGE, labels: ['cat', 'dog', 'coffee cup'], strategy: 'template' }, answerSchema: zeroShotAnswer },
  grpc: {
    method: 'ZeroShot',
    // proto3 cannot tell an empty `bytes`/`repeated` from an absent one: empty means absent, and
    // both given is refused by the schema as over HTTP.
    request: ({ image, images, descriptions, templates, ...rest }) => {
      const many = Array.isArray(images) && images.length > 0;
      const one = image instanceof Uint8Array && image.length > 0;
      return {
        ...rest,
        ...(many ? { images } : {}),
        ...(one || !many ? { image: image ?? new Uint8Array() } : {}),
        ...promptFieldsFromMessage(templates, descriptions),
      };
    },
  },
};
