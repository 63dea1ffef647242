/**
 * Embeddings in the OpenAI shape (`POST /v1/embeddings`, gRPC `Embed`) from a CLIP model: texts
 * through the text tower (and the embedding cache), `data:` URL images through the vision tower,
 * in one shared space, L2-normalised, in input order.
 */
import { ApiError } from '../../errors.js';
import { embeddingsRequestSchema, imageBytesFromString, parseRequest } from '../schemas.js';
import { inCallScope } from '../../pipelines/call-scope.js';
import { embeddingsResponse } from '../wire.js';
import { callOptions, type TaskService } from './task-service.js';
import { embeddingsAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

export type EmbeddingsAnswer = ReturnType<typeof embeddingsResponse>;

/**
 * An input is an image as a base64 image data URL; a base64 data URL of anything else (a PDF) is
 * refused, since embedding its base64 as text is never what was meant; any other string is text
 * ("data: 42 rows" too).
 */
const BASE64_DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)(;[\w-]+=[\w.-]+)*;base64,/i;

function embeddingItem(input: string, index: number, imageBytesLimit: number): { index: number; image?: Uint8Array; text?: string } {
  const mediaType = BASE64_DATA_URL.exec(input)?.[1];
  if (mediaType === undefined) return { index, text: input };
  if (!/^image\//i.test(mediaType)) throw new ApiError('invalid_image', `input ${index} is a data: URL of ${mediaType}: embeddings take text or image data: URLs`);
  return { index, image: imageBytesFromString(input, imageBytesLimit) };
}
/** Images per request, as for zero-shot: each is decoded and runs the vision tower. */
const MAX_IMAGES = 16;

export const embeddingsService: TaskService<EmbeddingsAnswer> = {
  task: 'zero-shot-image-classification',
  access: 'embeddings',
  name: 'embeddings',
  schema: embeddingsRequestSchema,
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(embeddingsRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('zero-shot-image-classification'));
    const items = request.inputs.map((input, index) => embeddingItem(input, index, imageBytesLimit));
    const imageCount = items.filter((item) => item.image !== undefined).length;
    if (imageCount > MAX_IMAGES) throw new ApiError('invalid_request', `${imageCount} images in one request; at most ${MAX_IMAGES}`);
    const model = registry.resolve('zero-shot-image-classification', request.model);
    const options = callOptions(call, request.timeoutMs);
    const clip = model.loaded.handler;
    const texts = items.filter((item) => item.text !== undefined);
    const [textVectors, imageVectors] = await inCallScope(options, (scoped) =>
      Promise.all([
        clip.embedTexts(texts.map((item) => item.text!), scoped),
        Promise.all(items.filter((item) => item.image !== undefined).map((item) => clip.embedImage(item.image!, scoped))),
      ]),
    );
    const vectors: Float32Array[] = [];
    let nextText = 0;
    let nextImage = 0;
    for (const item of items) {
      const vector = item.text !== undefined ? textVectors.vectors[nextText++] : imageVectors[nextImage++]?.vector;
      if (!vector) throw new ApiError('internal', `no embedding for input ${item.index}`);
      vectors.push(vector);
    }
    return embeddingsResponse(model.id, vectors, request.encodingFormat, textVectors.tokens);
  },
  http: { path: '/v1/embeddings', body: 'json', example: { input: ['a photo of a cat.', EXAMPLE_IMAGE] }, answerSchema: embeddingsAnswer },
  grpc: {
    method: 'Embed',
    // Floats only: base64 is a JSON transport's packing, and protobuf packs floats already.
    request: ({ input, model }) => ({ input, model }),
  },
};
