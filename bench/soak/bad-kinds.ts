/**
 * Deliberately bad requests (they must get their 4xx) and clients that go away (mid-upload, while
 * queued or running, mid-stream): the error and cancellation paths, soaked with the rest.
 */
import { streamCall, unaryCall } from './grpc-client.js';
import { captionStreamEnd, chatStreamEnd, recordGrpc, recordHttp } from './record.js';
import { between, chance, chatImage, image, pick, postForm, postJson, QUESTIONS, type RequestKind } from './requests.js';

export const corruptHttp: RequestKind = {
  name: 'bad: corrupt image (HTTP classify, zero-shot, caption)',
  weight: 1,
  run: async (ctx) => {
    const bad = pick(ctx.fixtures.corrupt);
    const [path, fields] = pick([
      ['/v1/classify', []],
      ['/v1/zero-shot', [['labels', 'cat'], ['labels', 'dog']]],
      ['/v1/caption', [['max_new_tokens', '4']]],
    ] as const);
    recordHttp(ctx.tally, corruptHttp.name, await postForm(ctx, path, [...fields], bad), { status: 400 });
  },
};

export const unknownModelHttp: RequestKind = {
  name: 'bad: unknown model (HTTP classify, caption, chat)',
  weight: 1,
  run: async (ctx) => {
    const model = `no-such-model-${between(0, 9)}`;
    const answer = chance(0.34)
      ? await postJson(ctx, '/v1/chat/completions', { model, messages: [{ role: 'user', content: 'hello' }], max_tokens: 4 })
      : await postForm(ctx, pick(['/v1/classify', '/v1/caption']), [['model', model]], image(ctx));
    recordHttp(ctx.tally, unknownModelHttp.name, answer, { status: 404 });
  },
};

export const corruptGrpc: RequestKind = {
  name: 'bad: corrupt image (gRPC Classify)',
  weight: 0.5,
  run: async (ctx) => void recordGrpc(ctx.tally, corruptGrpc.name, await unaryCall(ctx.grpc, 'Classify', { image: pick(ctx.fixtures.corrupt).bytes }), { status: 400 }),
};

export const unknownModelGrpc: RequestKind = {
  name: 'bad: unknown model (gRPC ZeroShot)',
  weight: 0.5,
  run: async (ctx) => void recordGrpc(ctx.tally, unknownModelGrpc.name, await unaryCall(ctx.grpc, 'ZeroShot', { image: image(ctx).bytes, labels: ['cat', 'dog'], model: 'no-such-clip' }), { status: 404 }),
};

export const abortUpload: RequestKind = {
  name: 'abort: mid-upload (HTTP classify)',
  weight: 0.6,
  run: async (ctx) => {
    // The largest images, so half the body is many TCP segments.
    const img = pick(ctx.fixtures.images.filter((i) => i.bytes.byteLength > 100_000));
    recordHttp(ctx.tally, abortUpload.name, await postForm(ctx, '/v1/classify', [], img, { abort: 'mid-upload' }));
  },
};

export const abortQueued: RequestKind = {
  name: 'abort: while queued or running (HTTP attention, caption)',
  weight: 0.5,
  run: async (ctx) => {
    const answer = chance(0.5) ? await postForm(ctx, '/v1/attention', [['method', 'rollout']], image(ctx), { abort: 'after-send' }) : await postForm(ctx, '/v1/caption', [['max_new_tokens', '16']], image(ctx), { abort: 'after-send' });
    recordHttp(ctx.tally, abortQueued.name, answer);
  },
};

export const abortStreamHttp: RequestKind = {
  name: 'abort: mid-stream (HTTP caption, chat)',
  weight: 0.6,
  run: async (ctx) => {
    if (chance(0.5)) {
      // min_new_tokens holds the end back, so the stream is still going when the client leaves.
      const fields: [string, string][] = [['model', pick(['caption-demo', 'blip-demo'])], ['max_new_tokens', '24'], ['min_new_tokens', '24'], ['stream', 'true']];
      recordHttp(ctx.tally, abortStreamHttp.name, await postForm(ctx, '/v1/caption', fields, image(ctx), { abort: 'first-event' }), 'ok', captionStreamEnd);
    } else {
      const img = await chatImage(ctx);
      const request = { model: 'chat-demo', max_tokens: 24, min_tokens: 24, stream: true, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: img.dataUrl } }, { type: 'text', text: pick(QUESTIONS) }] }] };
      recordHttp(ctx.tally, abortStreamHttp.name, await postJson(ctx, '/v1/chat/completions', request, 'first-event'), 'ok', chatStreamEnd);
    }
  },
};

export const abortStreamGrpc: RequestKind = {
  name: 'abort: mid-stream (gRPC CaptionStream)',
  weight: 0.4,
  run: async (ctx) => {
    const message = { image: image(ctx).bytes, model: pick(['caption-demo', 'blip-demo']), max_new_tokens: 24, min_new_tokens: 24 };
    recordGrpc(ctx.tally, abortStreamGrpc.name, await streamCall(ctx.grpc, 'CaptionStream', message, { cancelAfterFirst: true }), 'ok', true);
  },
};

