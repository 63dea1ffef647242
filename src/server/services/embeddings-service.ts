/**
 * Embeddings in the OpenAI shape (`POST /v1/embeddings`, gRPC `Embed`) from a CLIP model: texts
 * through the text tower (and the embedding cache), `data:` URL images through the vision tower,
 * in one shared space, L2-normalised, in input order.
 */
import { ApiError } from '../../errors.js';
import { embeddingsRequestSchema, imageBytesFromString, parseRequest } from '../schemas.js';
import { embeddingsResponse } from '../wire.js';
import type { TaskService } from './task-service.js';

export type EmbeddingsAnswer = ReturnType<typeof embeddingsResponse>;

export const embeddingsService: TaskService<EmbeddingsAnswer> = {
  task: 'zero-shot-image-classification',
  name: 'embeddings',
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseRequest(embeddingsRequestSchema, raw);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('zero-shot-image-classification'));
    const items = request.inputs.map((input, index) =>
      input.startsWith('data:') ? { index, image: imageBytesFromString(input, imageBytesLimit) } : { index, text: input },
    );
    const model = registry.resolve('zero-shot-image-classification', request.model);
    const deadlineMs = request.timeoutMs === undefined ? call.deadlineMs : Math.min(call.deadlineMs, Date.now() + request.timeoutMs);
    const options = { signal: call.signal, deadlineMs };
    const clip = model.loaded.handler;
    const texts = items.filter((item) => item.text !== undefined);
    const [textVectors, imageVectors] = await Promise.all([
      clip.embedTexts(texts.map((item) => item.text!), options),
      Promise.all(items.filter((item) => item.image !== undefined).map((item) => clip.embedImage(item.image!, options))),
    ]);
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
  http: { path: '/v1/embeddings', body: 'json' },
  grpc: {
    method: 'Embed',
    // Floats only: base64 is a JSON transport's packing, and protobuf packs floats already.
    request: ({ input, model }) => ({ input, model }),
  },
};
