/**
 * Request validation at the edge (zod). Transports turn their wire format into the raw shape
 * below; pipelines only ever see the parsed, camelCase types.
 */
import { z } from 'zod';
import { ApiError, clip } from '../errors.js';
import { COLORMAPS } from '../models/image/heatmap-overlay.js';
import { ATTENTION_METHODS } from '../pipelines/attention/attention-explainer.js';

/** Integers that may arrive as strings (multipart fields, query strings). */
const intField = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), z.number().int().min(min).max(max));

/** Images one caption request may carry (answered in order). */
export const MAX_CAPTION_IMAGES = 16;

export const classifyRequestSchema = z
  .strictObject({
    image: z.instanceof(Uint8Array, { message: 'image is required' }),
    top_k: intField(1, 1000).optional(),
    model: z.string().min(1).max(200).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .transform((r) => ({ image: r.image, topK: r.top_k ?? 5, model: r.model, timeoutMs: r.timeout_ms }));

export type ClassifyRequest = z.output<typeof classifyRequestSchema>;

/** Booleans that may arrive as strings (multipart fields). */
const boolField = z.preprocess((v) => (v === 'true' ? true : v === 'false' ? false : v), z.boolean());

/** Numbers that may arrive as strings (multipart fields). */
const numberField = (min: number, max: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), z.number().min(min).max(max));

/** How a map is drawn over the photo (attention, localisation). */
const renderFields = {
  format: z.enum(['png', 'json', 'both']).default('png'),
  colormap: z.enum(COLORMAPS).default('jet'),
  alpha: numberField(0, 1).default(0.5),
};

/** `heads`: mean, max, all, or a head's index (a string of digits from a form). */
const headsField = z.preprocess(
  (v) => (typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v),
  z.union([z.enum(['mean', 'max', 'all']), z.number().int().min(0).max(4095)], { message: "heads is 'mean', 'max', 'all' or a head index" }),
);

export const attentionRequestSchema = z
  .strictObject({
    image: z.instanceof(Uint8Array, { message: 'image is required' }),
    method: z.enum(ATTENTION_METHODS).default('cls'),
    layer: intField(-4096, 4095).optional(),
    start_layer: intField(-4096, 4095).optional(),
    heads: headsField.optional(),
    ...renderFields,
    classify: boolField.optional(),
    top_k: intField(1, 1000).optional(),
    model: z.string().min(1).max(200).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .transform((r) => ({
    image: r.image,
    method: r.method,
    layer: r.layer,
    startLayer: r.start_layer,
    heads: r.heads,
    format: r.format,
    style: { colormap: r.colormap, alpha: r.alpha },
    classify: r.classify ?? false,
    topK: r.top_k ?? 5,
    model: r.model,
    timeoutMs: r.timeout_ms,
  }));

export type AttentionRequest = z.output<typeof attentionRequestSchema>;

/** A list that may arrive as an array, one string (one multipart field), or a JSON array in a string. */
function listField(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  const text = value.trim();
  if (text.startsWith('[')) {
    try {
      return JSON.parse(text) as unknown;
    } catch {
      return value;
    }
  }
  return [value];
}

/** An object that may arrive as a JSON string (a multipart field). */
const jsonField = (value: unknown): unknown => {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return value;
  }
};

const withLabel = z.string().max(1000).refine((t) => t.includes('{label}'), 'must contain {label}');

/** The labels and how they become prompts (zero-shot and localisation). */
const promptFields = {
  labels: z.preprocess(listField, z.array(z.string().trim().min(1).max(300)).min(1, 'give at least one label').max(1000, 'at most 1000 labels')),
  strategy: z.enum(['plain', 'template', 'descriptive', 'ensemble']).default('template'),
  template: withLabel.optional(),
  templates: z.preprocess(listField, z.array(withLabel).min(1).max(64)).optional(),
  descriptions: z.preprocess(jsonField, z.record(z.string(), z.array(z.string().min(1).max(1000)).min(1).max(64))).optional(),
};

export const zeroShotRequestSchema = z
  .strictObject({
    image: z.instanceof(Uint8Array).optional(),
    images: z.array(z.instanceof(Uint8Array)).min(1).max(16).optional(),
    ...promptFields,
    top_k: intField(1, 1000).optional(),
    multi_label: boolField.optional(),
    /** A fitted alignment's name: image embeddings are mapped by it before scoring. */
    alignment: z.string().min(1).max(64).optional(),
    model: z.string().min(1).max(200).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .refine((r) => (r.image === undefined) !== (r.images === undefined), { message: 'give one image as `image`, or several as `images`' })
  .transform((r) => ({
    images: r.images ?? [r.image!],
    single: r.image !== undefined,
    labels: r.labels,
    strategy: r.strategy,
    template: r.template,
    templates: r.templates,
    descriptions: r.descriptions,
    topK: r.top_k ?? r.labels.length,
    multiLabel: r.multi_label ?? false,
    alignment: r.alignment,
    model: r.model,
    timeoutMs: r.timeout_ms,
  }));

export type ZeroShotRequest = z.output<typeof zeroShotRequestSchema>;

/** Label localisation: one image, labels as for zero-shot (at most 64: one map each), how to draw. */
export const localizeRequestSchema = z
  .strictObject({
    image: z.instanceof(Uint8Array, { message: 'image is required' }),
    ...promptFields,
    labels: z.preprocess(listField, z.array(z.string().trim().min(1).max(300)).min(1, 'give at least one label').max(64, 'at most 64 labels (one map each)')),
    top_k: intField(1, 1000).optional(),
    multi_label: boolField.optional(),
    ...renderFields,
    model: z.string().min(1).max(200).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .transform((r) => ({
    image: r.image,
    labels: r.labels,
    strategy: r.strategy,
    template: r.template,
    templates: r.templates,
    descriptions: r.descriptions,
    topK: r.top_k ?? r.labels.length,
    multiLabel: r.multi_label ?? false,
    format: r.format,
    style: { colormap: r.colormap, alpha: r.alpha },
    model: r.model,
    timeoutMs: r.timeout_ms,
  }));

export type LocalizeRequest = z.output<typeof localizeRequestSchema>;

/** Fitting an alignment: labelled examples (images as base64/data URLs, or embeddings) under a prompt strategy. */
export const alignmentFitSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][\w.-]{0,63}$/, 'names use letters, digits, ".", "_" and "-" (at most 64)'),
  model: z.string().min(1).max(200).optional(),
  strategy: z.enum(['plain', 'template', 'descriptive', 'ensemble']).default('template'),
  template: withLabel.optional(),
  templates: z.preprocess(listField, z.array(withLabel).min(1).max(64)).optional(),
  descriptions: z.preprocess(jsonField, z.record(z.string(), z.array(z.string().min(1).max(1000)).min(1).max(64))).optional(),
  examples: z
    .array(
      z
        .strictObject({
          /** base64 or a data URL (JSON), or the bytes (gRPC). */
          image: z.union([z.string().min(1), z.instanceof(Uint8Array)]).optional(),
          embedding: z.array(z.number()).min(1).max(4096).optional(),
          label: z.string().trim().min(1).max(300),
        })
        .refine((e) => (e.image === undefined) !== (e.embedding === undefined), { message: 'each example has an `image` or an `embedding`' }),
    )
    .min(2, 'give at least two examples')
    .max(10_000),
  /** Fraction of the examples kept out of the fit to measure it on (seeded). */
  holdout: z.preprocess((v) => (typeof v === 'string' && v.trim() !== '' ? Number(v) : v), z.number().min(0).max(0.5)).default(0),
  seed: intField(0, 2 ** 31).default(0),
  timeout_ms: intField(1, 3_600_000).optional(),
});

export type AlignmentFitRequest = z.output<typeof alignmentFitSchema>;

/**
 * The OpenAI embeddings request. `input` items are texts; an image item is a `data:` URL (a bare
 * string is always text, so a caption that looks like base64 is never taken for an image).
 */
export const embeddingsRequestSchema = z
  .strictObject({
    // No length cap per item: a data: URL image is megabytes; the JSON body limit bounds the whole.
    input: z.union([z.string(), z.array(z.string()).min(1).max(2048)]),
    model: z.string().min(1).max(200).optional(),
    encoding_format: z.enum(['float', 'base64']).default('float'),
    user: z.string().max(256).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .transform((r) => ({
    inputs: typeof r.input === 'string' ? [r.input] : r.input,
    model: r.model,
    encodingFormat: r.encoding_format,
    timeoutMs: r.timeout_ms,
  }));

export type EmbeddingsRequest = z.output<typeof embeddingsRequestSchema>;

/** Names at most this many unknown fields in a message (a client can send millions). */
const NAMED_UNKNOWN_KEYS = 5;

/** One zod issue in words; unknown keys are counted and a few named, each name cut short. */
function describeIssue(issue: z.core.$ZodIssue): string {
  const where = issue.path.length ? `${issue.path.map(String).join('.')}: ` : '';
  if (issue.code === 'unrecognized_keys') {
    const named = issue.keys.slice(0, NAMED_UNKNOWN_KEYS).map((key) => `'${clip(key, 40)}'`);
    const more = issue.keys.length > NAMED_UNKNOWN_KEYS ? ` and ${issue.keys.length - NAMED_UNKNOWN_KEYS} more` : '';
    return `${where}${issue.keys.length} unknown field${issue.keys.length === 1 ? '' : 's'}: ${named.join(', ')}${more}`;
  }
  return `${where}${issue.message}`;
}

/** Parses with a schema; failures become `invalid_request` naming the fields. */
export function parseRequest<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw new ApiError('invalid_request', parsed.error.issues.slice(0, 10).map(describeIssue).join('; '));
  return parsed.data;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+)?(;[\w-]+=[\w.-]+)*;base64,/i;
const BASE64 = /^[A-Za-z0-9+/_-]*={0,2}$/;

/**
 * Padded base64 without whitespace (what clients send), decoded in one native pass: Node's
 * decoder skips characters outside the alphabet, so with a length divisible by 4 the input was
 * clean exactly when every character decoded. Anything else takes the validating path.
 */
function decodeCleanBase64(payload: string, maxBytes: number): Uint8Array | undefined {
  if (payload.length === 0 || payload.length % 4 !== 0 || (payload.length / 4) * 3 > maxBytes + 3) return undefined;
  const bytes = Buffer.from(payload, 'base64');
  return bytes.length === Buffer.byteLength(payload, 'base64') ? new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length) : undefined;
}

/** Decodes a JSON image field: base64 or a base64 data URL. */
export function imageBytesFromString(value: string, maxBytes: number): Uint8Array {
  const match = DATA_URL.exec(value);
  if (value.startsWith('data:') && !match) throw new ApiError('invalid_image', 'image data URLs must be base64 encoded (data:<type>;base64,...)');
  if (/^https?:\/\//i.test(value)) throw new ApiError('invalid_request', 'image URLs are not fetched by this server: send the bytes (multipart or base64)');
  const clean = decodeCleanBase64(match ? value.slice(match[0].length) : value, maxBytes);
  if (clean) return clean;
  const payload = (match ? value.slice(match[0].length) : value).replace(/\s+/g, '');
  if (payload.length === 0) throw new ApiError('invalid_image', 'image is empty');
  if (!BASE64.test(payload)) throw new ApiError('invalid_image', 'image is neither base64 nor a base64 data URL');
  if (Math.floor((payload.length * 3) / 4) > maxBytes + 3) {
    throw new ApiError('payload_too_large', `image is larger than the ${maxBytes}-byte limit`);
  }
  return new Uint8Array(Buffer.from(payload, payload.includes('-') || payload.includes('_') ? 'base64url' : 'base64'));
}

/** A stop string or a list of them (a repeated multipart field arrives as a list). */
const stopField = z.preprocess(
  (v) => (typeof v === 'string' ? [v] : v),
  z.array(z.string().min(1).max(100)).max(8, { message: 'at most 8 stop strings' }),
);

/** Beams of one caption: each takes a row of the decode batch (8 rows per call on CPU). */
export const MAX_BEAMS = 8;

export const captionRequestSchema = z
  .strictObject({
    image: z.instanceof(Uint8Array).optional(),
    images: z.array(z.instanceof(Uint8Array)).min(1).max(MAX_CAPTION_IMAGES).optional(),
    model: z.string().min(1).max(200).optional(),
    max_new_tokens: intField(1, 1024).optional(),
    min_new_tokens: intField(0, 1024).optional(),
    temperature: numberField(0, 5).optional(),
    top_k: intField(0, 100_000).optional(),
    top_p: numberField(0.000001, 1).optional(),
    seed: intField(0, 2 ** 31 - 1).optional(),
    repetition_penalty: numberField(0.01, 10).optional(),
    num_beams: intField(1, MAX_BEAMS).optional(),
    length_penalty: numberField(-10, 10).optional(),
    early_stopping: boolField.optional(),
    no_repeat_ngram_size: intField(0, 16).optional(),
    stop: stopField.optional(),
    /** Text the caption continues (models with an attention mask, e.g. BLIP: "a photography of"). */
    prompt: z.string().max(500).optional(),
    /** Over HTTP: answer with server-sent events, the caption's text as it is decoded (the transport reads it). */
    stream: boolField.optional(),
    /** Also embed each caption with a served CLIP model's text tower (caption, then embed). */
    embed: boolField.optional(),
    /** Which CLIP model embeds (default: the first served). */
    embed_model: z.string().min(1).max(200).optional(),
    timeout_ms: intField(1, 3_600_000).optional(),
  })
  .refine((r) => (r.image === undefined) !== (r.images === undefined), { message: 'give one image as `image`, or several as `images`' })
  .refine((r) => r.max_new_tokens === undefined || (r.min_new_tokens ?? 0) <= r.max_new_tokens, { message: 'min_new_tokens is above max_new_tokens' })
  .refine((r) => (r.num_beams ?? 1) === 1 || (r.temperature ?? 0) === 0, { message: 'num_beams above 1 searches deterministically: leave temperature at 0' })
  .transform((r) => ({
    images: r.images ?? [r.image!],
    model: r.model,
    // Unset: the model's default (its generation_config.json), else 20; the captioner decides.
    maxNewTokens: r.max_new_tokens,
    minNewTokens: r.min_new_tokens,
    temperature: r.temperature,
    topK: r.top_k,
    topP: r.top_p,
    seed: r.seed,
    repetitionPenalty: r.repetition_penalty,
    // Given (even 1), num_beams overrides the model's default.
    ...((r.num_beams !== undefined || r.length_penalty !== undefined || r.early_stopping !== undefined) && {
      beams: { numBeams: r.num_beams, lengthPenalty: r.length_penalty, earlyStopping: r.early_stopping },
    }),
    noRepeatNgramSize: r.no_repeat_ngram_size,
    stop: r.stop,
    prompt: r.prompt,
    embed: r.embed === true || r.embed_model !== undefined,
    embedModel: r.embed_model,
    timeoutMs: r.timeout_ms,
  }));
