/** The soak's gRPC request kinds: unary and server-streaming RPCs of multimodal.v1.InferenceService. */
import { streamCall, unaryCall, type StreamEvent } from './grpc-client.js';
import { recordGrpc } from './record.js';
import { between, chatImage, FOLLOW_UPS, image, labels, pick, QUESTIONS, type RequestKind } from './requests.js';

export const grpcClassify: RequestKind = {
  name: 'gRPC Classify',
  weight: 6,
  run: async (ctx) => void recordGrpc(ctx.tally, grpcClassify.name, await unaryCall(ctx.grpc, 'Classify', { image: image(ctx).bytes, top_k: between(1, 5), model: pick(['vit-demo', 'vit-demo:q8']) })),
};

export const grpcZeroShot: RequestKind = {
  name: 'gRPC ZeroShot',
  weight: 5,
  run: async (ctx) => void recordGrpc(ctx.tally, grpcZeroShot.name, await unaryCall(ctx.grpc, 'ZeroShot', { image: image(ctx).bytes, labels: labels(), strategy: pick(['template', 'plain']), model: pick(['clip-demo', 'clip-demo:q8']) })),
};

export const grpcCaptionStream: RequestKind = {
  name: 'gRPC CaptionStream',
  weight: 3,
  run: async (ctx) => {
    const message = { image: image(ctx).bytes, model: pick(['caption-demo', 'blip-demo']), max_new_tokens: between(2, 8) };
    recordGrpc(ctx.tally, grpcCaptionStream.name, await streamCall(ctx.grpc, 'CaptionStream', message), 'ok', true);
  },
};

/** A two-turn chat over gRPC, the image as bytes in a `parts` entry. */
export const grpcChat: RequestKind = {
  name: 'gRPC Chat',
  weight: 2,
  run: async (ctx) => {
    const img = await chatImage(ctx);
    const first = [{ role: 'user', parts: [{ type: 'image', image: img.bytes }, { type: 'text', text: pick(QUESTIONS) }] }];
    let answer = '';
    const onEvent = (event: StreamEvent) => {
      const choices = event.done?.choices as { message?: { content?: string } }[] | undefined;
      if (choices) answer = choices[0]?.message?.content ?? '';
    };
    const settings = { model: 'chat-demo', max_tokens: between(2, 8) };
    if (!recordGrpc(ctx.tally, grpcChat.name, await streamCall(ctx.grpc, 'Chat', { ...settings, messages: first }, { onEvent }), 'ok', true)) return;
    const messages = [...first, { role: 'assistant', content: answer }, { role: 'user', content: pick(FOLLOW_UPS) }];
    recordGrpc(ctx.tally, grpcChat.name, await streamCall(ctx.grpc, 'Chat', { ...settings, messages }), 'ok', true);
  },
};

