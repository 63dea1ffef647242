/**
 * Every endpoint that takes an image, as a way to put one corpus image into a request on each
 * transport, in the body form the endpoint is most often called with (multipart, JSON base64, a
 * data URL, raw bytes), so the corpus reaches every parser. The models are the test server's
 * (`everyTaskModelFlags`: vit, clip, captioner, chat).
 */
import type { ErrorCode } from '../../src/errors.js';
import type { ImageCase } from './image-corpus.js';
import { postJson, type GrpcCallSpec, type HttpRequestSpec, type Transport } from './outcome.js';

export interface ImageEndpoint {
  readonly name: string;
  /** Its model's processor resizes the shortest edge (CLIP), not to a fixed square (ViT). */
  readonly resizesShortestEdge?: boolean;
  http(image: ImageCase): HttpRequestSpec;
  grpc(image: ImageCase): GrpcCallSpec;
  /** Where the body form answers before the image is looked at (a raw body's Content-Type). */
  expectForForm?(image: ImageCase, transport: Transport): ErrorCode | undefined;
}

/** What a client must get for this image on this endpoint and transport. */
export function expectedAnswer(endpoint: ImageEndpoint, image: ImageCase, transport: Transport): 'ok' | ErrorCode {
  const byForm = endpoint.expectForForm?.(image, transport);
  if (byForm) return byForm;
  return (endpoint.resizesShortestEdge && image.expectWhereShortestEdgeResized) || image.expect;
}


function multipart(path: string, image: ImageCase, fields: Record<string, string | string[]>): HttpRequestSpec {
  const form = new FormData();
  form.append('image', new Blob([new Uint8Array(image.bytes)], { type: image.contentType }), 'upload');
  for (const [name, value] of Object.entries(fields)) for (const item of [value].flat()) form.append(name, item);
  return { method: 'POST', path, body: form };
}

const dataUrl = (image: ImageCase) => `data:${image.contentType};base64,${image.bytes.toString('base64')}`;

/** `good` is a valid photo, for requests that need a second image beside the case's. */
export function imageEndpoints(good: Buffer): ImageEndpoint[] {
  return [
    {
      name: 'classify',
      http: (image) => multipart('/v1/classify', image, { top_k: '3', model: 'vit' }),
      grpc: (image) => ({ method: 'Classify', message: { image: image.bytes, top_k: 3, model: 'vit' } }),
    },
    {
      name: 'zero-shot',
      resizesShortestEdge: true,
      http: (image) => postJson('/v1/zero-shot', { image: image.bytes.toString('base64'), labels: ['cat', 'dog'], model: 'clip' }),
      grpc: (image) => ({ method: 'ZeroShot', message: { image: image.bytes, labels: ['cat', 'dog'], model: 'clip' } }),
    },
    {
      name: 'alignment fit',
      resizesShortestEdge: true,
      // proto3 cannot tell empty bytes from none: an example with neither image nor embedding.
      expectForForm: (image, transport) => (transport === 'grpc' && image.bytes.length === 0 ? 'invalid_request' : undefined),
      http: (image) =>
        postJson('/v1/zero-shot/alignments', { name: 'corpus', model: 'clip', examples: [{ image: dataUrl(image), label: 'cat' }, { image: good.toString('base64'), label: 'dog' }] }),
      grpc: (image) => ({ method: 'FitAlignment', message: { name: 'corpus', model: 'clip', examples: [{ image: image.bytes, label: 'cat' }, { image: good, label: 'dog' }] } }),
    },
    {
      name: 'embeddings',
      resizesShortestEdge: true,
      http: (image) => postJson('/v1/embeddings', { model: 'clip', input: [dataUrl(image)] }),
      grpc: (image) => ({ method: 'Embed', message: { model: 'clip', input: [dataUrl(image)] } }),
    },
    {
      name: 'attention',
      // Raw bytes with the options in the query string: the third body form.
      http: (image) => ({ method: 'POST', path: '/v1/attention?format=json&model=vit', headers: { 'content-type': image.contentType }, body: new Uint8Array(image.bytes) }),
      grpc: (image) => ({ method: 'Explain', message: { image: image.bytes, format: 'json', model: 'vit' } }),
      expectForForm: (image, transport) => {
        if (transport !== 'http') return undefined;
        if (image.bytes.length === 0) return 'invalid_request'; // no body at all
        return image.contentType.startsWith('image/') ? undefined : 'unsupported_media_type';
      },
    },
    {
      name: 'localize',
      resizesShortestEdge: true,
      http: (image) => multipart('/v1/zero-shot/localize', image, { labels: ['cat', 'dog'], format: 'json', model: 'clip' }),
      grpc: (image) => ({ method: 'Localize', message: { image: image.bytes, labels: ['cat', 'dog'], format: 'json', model: 'clip' } }),
    },
    {
      name: 'caption',
      http: (image) => multipart('/v1/caption', image, { max_new_tokens: '2', model: 'captioner' }),
      grpc: (image) => ({ method: 'Caption', message: { image: image.bytes, max_new_tokens: 2, model: 'captioner' } }),
    },
    {
      name: 'chat',
      http: (image) =>
        postJson('/v1/chat/completions', {
          model: 'chat',
          max_tokens: 2,
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl(image) } }, { type: 'text', text: 'What is this?' }] }],
        }),
      grpc: (image) => ({
        method: 'Chat',
        streaming: true,
        message: { model: 'chat', max_tokens: 2, messages: [{ role: 'user', parts: [{ type: 'image', image: image.bytes }, { type: 'text', text: 'What is this?' }] }] },
      }),
    },
  ];
}
