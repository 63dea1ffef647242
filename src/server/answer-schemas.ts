/**
 * The JSON answers of the HTTP routes (what wire.ts and the services produce), as zod schemas:
 * the OpenAPI document describes each route's 200 answer with them, and a test checks the live
 * server's answers against the document. Every field the server sends is listed (the document
 * says no others come: a field added without its description fails that test); the fields are
 * always there unless optional.
 */
import { z } from 'zod';

const ms = z.number().min(0);
const prediction = z.object({ label: z.string(), score: z.number() });
const randomWeights = { random_weights: z.boolean().describe('the model has random weights (a generated demo): its answers mean nothing'), notice: z.string().optional() };
const grid = z.object({ rows: z.number().int(), cols: z.number().int(), patch_size: z.number().int(), special_tokens: z.number().int() });
const size = z.object({ width: z.number().int(), height: z.number().int() });
const placement = {
  grid,
  region: z.object({ x: z.number(), y: z.number(), width: z.number(), height: z.number() }).describe('where the model input lies on the photo'),
  input_size: size,
  image_size: size,
};
const prompts = z.array(z.object({ label: z.string(), texts: z.array(z.string()) }));
const cache = z.object({ hits: z.number().int(), misses: z.number().int() });

export const classifyAnswer = z.object({
  model: z.string(),
  predictions: z.array(prediction.extend({ index: z.number().int() })),
  timing: z.object({ preprocess_ms: ms, queue_ms: ms, inference_ms: ms, total_ms: ms, batch_size: z.number().int() }),
  ...randomWeights,
});

export const zeroShotAnswer = z.object({
  model: z.string(),
  predictions: z.array(prediction).optional().describe('one `image`'),
  results: z.array(z.object({ predictions: z.array(prediction) })).optional().describe('several `images`, in order'),
  scores: z.enum(['softmax', 'cosine']),
  strategy: z.string(),
  alignment: z.string().optional().describe('the fitted alignment applied, when the request named one'),
  prompts,
  truncated_prompts: z.array(z.unknown()),
  cache,
  timing: z.object({ text_ms: ms, preprocess_ms: ms, image_ms: ms, total_ms: ms }),
  ...randomWeights,
});

export const embeddingsAnswer = z.object({
  object: z.literal('list'),
  data: z.array(z.object({ object: z.literal('embedding'), index: z.number().int(), embedding: z.union([z.array(z.number()), z.string().describe('base64 of little-endian float32')]) })),
  model: z.string(),
  usage: z.object({ prompt_tokens: z.number().int(), total_tokens: z.number().int() }),
});

export const alignmentAnswer = z.object({
  name: z.string(),
  model: z.string(),
  dim: z.number().int(),
  strategy: z.string(),
  labels: z.array(z.string()),
  examples: z.number().int(),
  created: z.string(),
  stats: z.object({ fit: z.object({ examples: z.number().int() }).loose() }).loose(),
  warnings: z.array(z.string()).optional(),
});

const map = z.object({ values: z.array(z.array(z.number())).describe('rows × cols') });

export const attentionAnswer = z.object({
  model: z.string(),
  method: z.string(),
  layer: z.number().int(),
  heads: z.union([z.string(), z.number(), z.null()]),
  ...placement,
  maps: z.array(map.extend({ head: z.union([z.string(), z.number()]).optional() })),
  predictions: z.array(prediction).optional(),
  png_base64: z.string().optional().describe('format both: the overlay'),
  timing: z.object({ preprocess_ms: ms, queue_ms: ms, inference_ms: ms, render_ms: ms, total_ms: ms, batch_size: z.number().int() }),
  ...randomWeights,
});

export const localizeAnswer = z.object({
  model: z.string(),
  predictions: z.array(prediction),
  ...placement,
  prompts,
  cache,
  maps: z.array(map.extend({ label: z.string() })),
  png_base64: z.string().optional(),
  timing: z.object({ text_ms: ms, preprocess_ms: ms, inference_ms: ms, render_ms: ms, total_ms: ms }),
  ...randomWeights,
});

const caption = {
  caption: z.string(),
  tokens: z.number().int(),
  finish_reason: z.enum(['eos', 'length', 'stop']),
  timing: z.object({ preprocess_ms: ms, encode_ms: ms, decode_ms: ms, total_ms: ms }),
  embedding: z.array(z.number()).optional(),
};
export const captionAnswer = z.object({
  model: z.string(),
  ...caption,
  results: z.array(z.object(caption)).optional().describe('several images, in order'),
  embedding_model: z.string().optional(),
  ...randomWeights,
});

const usage = z.object({ prompt_tokens: z.number().int(), completion_tokens: z.number().int(), total_tokens: z.number().int() });
export const chatAnswer = z.object({
  id: z.string(),
  object: z.literal('chat.completion'),
  created: z.number().int(),
  model: z.string(),
  choices: z.array(z.object({ index: z.number().int(), message: z.object({ role: z.literal('assistant'), content: z.string() }), finish_reason: z.enum(['stop', 'length']), logprobs: z.null() })),
  usage,
  timing: z.object({ encode_ms: ms, decode_ms: ms, total_ms: ms }),
  cached_images: z.number().int(),
  ...randomWeights,
});
