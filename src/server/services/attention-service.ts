/**
 * Attention maps as both transports run them (`POST /v1/attention`, gRPC `Explain`): validate,
 * pick the model (an image classifier or a CLIP model, whichever serves the id), run its
 * explainer, shape the answer: a PNG over the photo, the grids as JSON, or both.
 */
import { ApiError } from '../../errors.js';
import { AttentionUnavailableError } from '../../models/attention/attention-taps.js';
import { topPredictions } from '../../pipelines/image-classification.js';
import type { Task } from '../../pipelines/tasks.js';
import type { ModelRegistry } from '../model-registry.js';
import { attentionRequestSchema, parseRequest } from '../schemas.js';
import { attentionJson, attentionMessage, attentionResponse, type AttentionAnswer } from '../wire.js';
import type { PhotoRegion } from '../../pipelines/attention/patch-grid.js';
import { callOptions, type HttpBinary, type TaskService } from './task-service.js';
import { attentionAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

/** The tasks whose models have an image encoder to explain, in the order a default is picked. */
const EXPLAINABLE_TASKS: readonly Task[] = ['image-classification', 'zero-shot-image-classification'];

/** The served model with this id (or the first default) among the explainable tasks. */
function resolveExplainable(registry: ModelRegistry, id: string | undefined) {
  const named = id === undefined ? undefined : registry.get(id)?.task;
  const task = id === undefined ? EXPLAINABLE_TASKS.find((t) => registry.defaultModelId(t) !== undefined) : EXPLAINABLE_TASKS.find((t) => t === named);
  if (!task) {
    throw new ApiError('model_not_found', id === undefined ? 'no model serves attention maps' : `model '${id}' is not served for attention maps (image classifiers and CLIP models are)`);
  }
  return { task, model: registry.resolve(task, id) };
}

/** The PNG itself for `format: png` (the grid's shape and region in headers); JSON otherwise. */
export function pngReply(answer: { format: string; png?: Uint8Array | undefined; model: string; grid: { rows: number; cols: number }; region: PhotoRegion }): HttpBinary | undefined {
  if (answer.format !== 'png' || !answer.png) return undefined;
  const { grid, region } = answer;
  return {
    contentType: 'image/png',
    body: answer.png,
    headers: {
      'X-Model': answer.model,
      'X-Attention-Grid': `${grid.rows}x${grid.cols}`,
      'X-Attention-Region': [region.x, region.y, region.width, region.height].join(','),
    },
  };
}

export const attentionService: TaskService<AttentionAnswer> = {
  task: 'image-classification',
  access: 'attention',
  name: 'attention',
  schema: attentionRequestSchema,
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(attentionRequestSchema, raw);
    const { task, model } = resolveExplainable(registry, request.model);
    call.labels = registry.metricLabels(model.id);
    if (request.image.length > imageBytesLimit) {
      throw new ApiError('payload_too_large', `the image is ${request.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
    }
    const explainer = model.loaded.attention;
    if (explainer === undefined) throw new ApiError('invalid_request', `model '${model.id}' does not serve attention maps`);
    if (explainer instanceof AttentionUnavailableError) throw new ApiError('invalid_request', explainer.message);
    if (request.classify && task !== 'image-classification') {
      throw new ApiError('invalid_request', `classify needs an image classifier; '${model.id}' is a zero-shot model (its labels come with /v1/zero-shot)`);
    }
    const result = await explainer.explain(
      {
        image: request.image,
        method: request.method,
        layer: request.layer,
        startLayer: request.startLayer,
        heads: request.heads,
        render: request.format === 'json' ? undefined : request.style,
      },
      callOptions(call, request.timeoutMs),
    );
    const labels = request.classify ? registry.resolve('image-classification', model.id).loaded.handler.labels : undefined;
    const predictions = labels && topPredictions(result.output, labels, request.topK);
    return attentionResponse(model.id, request.format, result, predictions, model.loaded.randomWeights);
  },
  http: {
    path: '/v1/attention',
    answer: attentionJson,
    binary: pngReply,
    example: { image: EXAMPLE_IMAGE, method: 'rollout', format: 'json' },
    answerSchema: attentionAnswer,
  },
  grpc: {
    method: 'Explain',
    request: ({ image, method, layer, start_layer, heads, format, colormap, alpha, classify, top_k, model }) => ({
      image: image ?? new Uint8Array(),
      method,
      layer,
      start_layer,
      heads,
      format,
      colormap,
      alpha,
      classify,
      top_k,
      model,
    }),
    answer: attentionMessage,
  },
};
