/**
 * Visual chat as OpenAI's chat completions API (`POST /v1/chat/completions`): the answer as a
 * `chat.completion`, or with `stream: true` as `chat.completion.chunk` server-sent events (the
 * role, then the text as it is decoded, then the finish reason, then the usage when
 * `stream_options.include_usage` asks), ended by `data: [DONE]`.
 */
import { randomUUID } from 'node:crypto';
import { ApiError } from '../../errors.js';
import type { FinishReason } from '../../pipelines/generation/decode-scheduler.js';
import type { ChatResult } from '../../pipelines/chat.js';
import { chatRequestSchema, parseChatRequest } from '../chat-schema.js';
import { callOptions, type TaskService } from './task-service.js';
import { chatAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

/** OpenAI's finish reasons: an end-of-turn token or a stop string is `stop`. */
function finishReasonOf(reason: FinishReason): 'stop' | 'length' {
  return reason === 'length' ? 'length' : 'stop';
}

const round = (ms: number) => Math.round(ms * 100) / 100;

function usageOf(result: ChatResult) {
  return { prompt_tokens: result.promptTokens, completion_tokens: result.completionTokens, total_tokens: result.promptTokens + result.completionTokens };
}

export interface ChatCompletion {
  id: string;
  object: 'chat.completion';
  created: number;
  model: string;
  choices: { index: 0; message: { role: 'assistant'; content: string }; finish_reason: 'stop' | 'length'; logprobs: null }[];
  usage: ReturnType<typeof usageOf>;
  /** Ours, beside OpenAI's fields: where the time went, and images answered from the feature cache. */
  timing: { encode_ms: number; decode_ms: number; total_ms: number };
  cached_images: number;
  random_weights: boolean;
}

export const chatService: TaskService<ChatCompletion> = {
  task: 'image-text-to-text',
  access: 'chat',
  name: 'chat',
  schema: chatRequestSchema,
  async run({ registry, imageBytesLimit }, raw, call) {
    const request = parseChatRequest(raw, imageBytesLimit);
    call.labels = registry.metricLabels(request.model ?? registry.defaultModelId('image-text-to-text'));
    const model = registry.resolve('image-text-to-text', request.model);
    const head = { id: `chatcmpl-${randomUUID()}`, created: Math.floor(Date.now() / 1000), model: model.id };
    const { stream } = call;
    const chunk = (delta: object, finishReason: string | null = null) => ({ ...head, object: 'chat.completion.chunk', choices: [{ index: 0, delta, finish_reason: finishReason, logprobs: null }] });
    let opened = false;
    const onText = stream && ((content: string) => {
      if (!opened) stream(chunk({ role: 'assistant', content: '' }));
      opened = true;
      stream(chunk({ content }));
    });
    const result = await model.loaded.handler.complete({ ...request.input, ...(onText && { onText }) }, callOptions(call, request.timeoutMs));
    if (stream) {
      if (!opened) stream(chunk({ role: 'assistant', content: '' }));
      stream(chunk({}, finishReasonOf(result.finishReason)));
      if (request.includeUsage) stream({ ...head, object: 'chat.completion.chunk', choices: [], usage: usageOf(result) });
    }
    const { encodeMs, decodeMs, totalMs } = result.timing;
    return {
      ...head,
      object: 'chat.completion',
      choices: [{ index: 0, message: { role: 'assistant', content: result.text }, finish_reason: finishReasonOf(result.finishReason), logprobs: null }],
      usage: usageOf(result),
      timing: { encode_ms: round(encodeMs), decode_ms: round(decodeMs), total_ms: round(totalMs) },
      cached_images: result.cachedImages,
      random_weights: model.loaded.randomWeights,
    };
  },
  http: {
    path: '/v1/chat/completions',
    body: 'json',
    stream: 'openai',
    example: {
      messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: EXAMPLE_IMAGE } }, { type: 'text', text: 'What is in this picture?' }] }],
      max_tokens: 16,
    },
    answerSchema: chatAnswer,
  },
  grpc: {
    // Streaming only: the chunks, then the whole completion.
    streamMethod: 'Chat',
    request: ({ messages, stop, ...rest }) => ({
      ...rest,
      messages: (messages as GrpcMessage[] | undefined)?.map((message, index) => fromGrpcMessage(message, index)),
      // proto3 cannot tell an empty repeated field from an absent one: empty means absent.
      stop: Array.isArray(stop) && stop.length > 0 ? stop : undefined,
    }),
  },
};

interface GrpcMessage {
  role?: string;
  content?: string;
  parts?: { type?: string; text?: string; image_url?: { url?: string; detail?: string } | null; image?: Uint8Array }[];
}

/**
 * A proto ChatMessage as the JSON request has it: `content` text, or `parts` with only each
 * type's own field. Both at once would leave one silently unread: refused.
 */
function fromGrpcMessage({ role, content, parts }: GrpcMessage, index: number): object {
  if (!parts?.length) return { role, content: content ?? '' };
  if (content) throw new ApiError('invalid_request', `messages.${index}: give \`content\` or \`parts\`, not both`);
  return {
    role,
    content: parts.map(({ type, text, image_url, image }) =>
      type === 'text' ? { type, text } : type === 'image_url' ? { type, image_url: { url: image_url?.url ?? '', ...(image_url?.detail && { detail: image_url.detail }) } } : { type, image },
    ),
  };
}
