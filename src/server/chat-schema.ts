/**
 * The OpenAI chat completions request (`POST /v1/chat/completions`, gRPC `Chat`), validated
 * with zod: messages with string or content-part content (`text`, `image_url` with a base64
 * `data:` URL; over gRPC also `image` with the bytes), the sampling fields this server implements, and a clear 400 for what it does
 * not (tools, n > 1, logprobs, penalties, response formats, http(s) image URLs).
 */
import { z } from 'zod';
import { ApiError } from '../errors.js';
import type { ChatInput, ChatMessage } from '../pipelines/chat.js';
import { imageBytesFromString, parseRequest } from './schemas.js';

/** Messages in one conversation, and images over all of them. */
export const MAX_CHAT_MESSAGES = 512;
export const MAX_CHAT_IMAGES = 16;

const textPart = z.strictObject({ type: z.literal('text'), text: z.string().max(1_000_000) });
const imageUrl = z.union([z.string(), z.object({ url: z.string(), detail: z.enum(['auto', 'low', 'high']).optional() })]);
const imagePart = z.strictObject({ type: z.literal('image_url'), image_url: imageUrl });
/** The image's bytes themselves (gRPC's `bytes`; JSON cannot carry them). */
const bytesPart = z.strictObject({ type: z.literal('image'), image: z.instanceof(Uint8Array) });
const message = z.strictObject({
  role: z.enum(['system', 'developer', 'user', 'assistant']),
  content: z.union([z.string(), z.array(z.discriminatedUnion('type', [textPart, imagePart, bytesPart])).min(1).max(1000)]),
  name: z.string().max(256).optional(),
});

/**
 * OpenAI fields this server does not implement: a value other than the no-op default is refused
 * by name (a client library that sends the defaults still works).
 */
const UNSUPPORTED: Record<string, (value: unknown) => boolean> = {
  tools: (v) => Array.isArray(v) && v.length === 0,
  tool_choice: (v) => v === 'none',
  functions: () => false,
  function_call: () => false,
  parallel_tool_calls: () => true,
  logprobs: (v) => v === false,
  top_logprobs: () => false,
  frequency_penalty: (v) => v === 0,
  presence_penalty: (v) => v === 0,
  logit_bias: (v) => v !== null && typeof v === 'object' && Object.keys(v).length === 0,
  response_format: (v) => (v as { type?: unknown } | null)?.type === 'text',
  audio: () => false,
  modalities: (v) => Array.isArray(v) && v.length === 1 && v[0] === 'text',
  prediction: () => false,
  reasoning_effort: () => false,
  web_search_options: () => false,
  metadata: () => true,
  store: (v) => v === false,
  service_tier: () => true,
};

export const chatRequestSchema = z
  .strictObject({
    model: z.string().min(1).max(200).optional(),
    messages: z.array(message).min(1).max(MAX_CHAT_MESSAGES),
    max_tokens: z.number().int().min(1).max(32_768).optional(),
    max_completion_tokens: z.number().int().min(1).max(32_768).optional(),
    temperature: z.number().min(0).max(2).optional(),
    top_p: z.number().gt(0).max(1).optional(),
    seed: z.number().int().min(0).max(2 ** 31 - 1).optional(),
    stop: z.union([z.string().min(1).max(100), z.array(z.string().min(1).max(100)).max(8)]).nullable().optional(),
    stream: z.boolean().optional(),
    stream_options: z.strictObject({ include_usage: z.boolean().optional() }).nullable().optional(),
    /** vLLM's extension: the end of the turn is held back until this many tokens (benchmarks force lengths with it). */
    min_tokens: z.number().int().min(0).max(32_768).optional(),
    n: z.literal(1, { message: 'n above 1 is not supported: ask again for another answer' }).optional(),
    user: z.string().max(256).optional(),
    timeout_ms: z.number().int().min(1).max(3_600_000).optional(),
    ...Object.fromEntries(Object.keys(UNSUPPORTED).map((key) => [key, z.unknown().optional()])),
  })
  .refine((r) => r.max_tokens === undefined || r.max_completion_tokens === undefined || r.max_tokens === r.max_completion_tokens, { message: 'max_tokens and max_completion_tokens differ: give one' })
  .refine((r) => (r.min_tokens ?? 0) <= (r.max_completion_tokens ?? r.max_tokens ?? Infinity), { message: 'min_tokens is above max_tokens' });

export interface ChatRequest {
  model: string | undefined;
  input: Omit<ChatInput, 'onText'>;
  stream: boolean;
  includeUsage: boolean;
  timeoutMs: number | undefined;
}

/** Parses a raw chat request; images are decoded from their data URLs (each at most `imageBytesLimit`). */
export function parseChatRequest(raw: unknown, imageBytesLimit: number): ChatRequest {
  const request = parseRequest(chatRequestSchema, raw);
  for (const [field, isDefault] of Object.entries(UNSUPPORTED)) {
    const value = (request as Record<string, unknown>)[field];
    if (value !== undefined && value !== null && !isDefault(value)) throw new ApiError('invalid_request', `'${field}' is not supported by this server`);
  }
  const messages = request.messages.map((m, index) => toMessage(m, index, imageBytesLimit));
  const images = messages.reduce((sum, m) => sum + m.content.filter((part) => part.type === 'image').length, 0);
  if (images > MAX_CHAT_IMAGES) throw new ApiError('invalid_request', `the conversation has ${images} images; at most ${MAX_CHAT_IMAGES}`);
  if (!messages.some((m) => m.role === 'user')) throw new ApiError('invalid_request', 'messages: the conversation has no user message');
  const stop = request.stop === null || request.stop === undefined ? undefined : typeof request.stop === 'string' ? [request.stop] : request.stop;
  return {
    model: request.model,
    input: {
      messages,
      maxNewTokens: request.max_completion_tokens ?? request.max_tokens,
      minNewTokens: request.min_tokens,
      temperature: request.temperature,
      topP: request.top_p,
      seed: request.seed,
      ...(stop && { stop }),
    },
    stream: request.stream === true,
    includeUsage: request.stream_options?.include_usage === true,
    timeoutMs: request.timeout_ms,
  };
}

type RawMessage = z.output<typeof message>;

function toMessage(raw: RawMessage, index: number, imageBytesLimit: number): ChatMessage {
  const role = raw.role === 'developer' ? 'system' : raw.role;
  if (typeof raw.content === 'string') return { role, content: [{ type: 'text', text: raw.content }] };
  const content = raw.content.map((part): ChatMessage['content'][number] => {
    if (part.type === 'text') return { type: 'text', text: part.text };
    if (role !== 'user') throw new ApiError('invalid_request', `messages.${index}: only user messages may carry images`);
    if (part.type === 'image') {
      if (part.image.length > imageBytesLimit) throw new ApiError('payload_too_large', `messages.${index}: an image is ${part.image.length} bytes, over the ${imageBytesLimit}-byte limit`);
      return { type: 'image', image: part.image };
    }
    const url = typeof part.image_url === 'string' ? part.image_url : part.image_url.url;
    if (/^https?:\/\//i.test(url)) throw new ApiError('invalid_request', `messages.${index}: image URLs are not fetched by this server yet: send the image as a data: URL (data:image/jpeg;base64,...)`);
    if (!url.startsWith('data:')) throw new ApiError('invalid_request', `messages.${index}: image_url must be a base64 data: URL (data:image/jpeg;base64,...)`);
    return { type: 'image', image: imageBytesFromString(url, imageBytesLimit) };
  });
  return { role, content };
}
