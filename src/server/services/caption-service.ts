/**
 * Image captioning as both transports run it. Several images (multipart `image` repeated, JSON
 * `images`) are captioned together and answered in order. Over HTTP, `Accept: text/plain` answers
 * with the captions only, one per line, so `curl -F image=@photo.jpg …/v1/caption >> captions.txt`
 * works; `stream: true` answers with server-sent events, `{index, delta}` as the text grows, then
 * the whole answer (`curl -N -F stream=true …`).
 */
import { ApiError } from '../../errors.js';
import { captionRequestSchema, MAX_CAPTION_IMAGES, parseRequest } from '../schemas.js';
import { captionResponse } from '../wire.js';
import { callOptions, withRandomWeightsNotice, type TaskService } from './task-service.js';
import { captionAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

export type CaptionAnswer = ReturnType<typeof captionResponse>;

export const captionService: TaskService<CaptionAnswer> = {
  task: 'image-to-text',
  access: 'caption',
  schema: captionRequestSchema,
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(captionRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('image-to-text'));
    for (const image of request.images) {
      if (image.length > imageBytesLimit) throw new ApiError('payload_too_large', `an image is ${image.length} bytes, over the ${imageBytesLimit}-byte limit`);
    }
    const model = registry.resolve('image-to-text', request.model);
    // Resolved before any work: a request that asks for an embedding no served model can make fails at once.
    const embedder = request.embed ? registry.resolve('zero-shot-image-classification', request.embedModel) : undefined;
    const { timeoutMs, model: _model, images, embed: _embed, embedModel: _embedModel, ...options } = request;
    const pipelineOptions = callOptions(call, timeoutMs);
    // Captioned concurrently: images whose encodings are ready in the same turn share every decode step.
    // Streamed (HTTP `stream: true`): each caption's text as it grows, by the image's index.
    const { stream } = call;
    const results = await Promise.all(images.map((image, index) => model.loaded.handler.caption({ ...options, image, ...(stream && { onText: (delta: string) => stream({ index, delta }) }) }, pipelineOptions)));
    // Caption, then embed (the captions are text for CLIP's text tower, through its cache).
    const embedded = embedder && { model: embedder.id, vectors: (await embedder.loaded.handler.embedTexts(results.map((r) => r.caption), pipelineOptions)).vectors };
    return captionResponse(model.id, results, model.loaded.randomWeights, embedded);
  },
  http: {
    path: '/v1/caption',
    multipart: { files: MAX_CAPTION_IMAGES, fields: 20 },
    answer: withRandomWeightsNotice,
    binary: (answer, request) => (request?.prefers('text/plain') ? { contentType: 'text/plain; charset=utf-8', body: new TextEncoder().encode(captionLines(answer)) } : undefined),
    stream: true,
    example: { image: EXAMPLE_IMAGE, max_new_tokens: 12 },
    answerSchema: captionAnswer,
  },
  grpc: {
    method: 'Caption',
    streamMethod: 'CaptionStream',
    // proto3 cannot tell an empty `bytes`/`repeated` from an absent one: empty means absent.
    request: ({ image, images, stop, ...rest }) => ({
      ...rest,
      ...(Array.isArray(images) && images.length > 0 ? { images } : { image: image ?? new Uint8Array() }),
      stop: Array.isArray(stop) && stop.length === 0 ? undefined : stop,
    }),
  },
};

/** One caption per line, in the images' order. */
function captionLines(answer: CaptionAnswer): string {
  const captions = 'results' in answer && answer.results ? answer.results.map((r) => r.caption) : [answer.caption];
  return captions.map((caption) => `${caption}\n`).join('');
}
