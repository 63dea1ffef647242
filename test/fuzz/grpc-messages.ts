/**
 * fast-check arbitraries for the messages of multimodal.v1.InferenceService
 * (proto/multimodal/v1/inference.proto): every field gets values of its proto type (uint32 from 0
 * to 2^32 − 1, int32, float and double with NaN and infinities, bytes, repeated, maps), the
 * fields a request needs are always there, and a few of the optional ones are set. Token counts
 * stay small most of the time so decoding does not eat the budget.
 */
import fc from 'fast-check';
import { POLLUTION_KEYS } from './request-arbitraries.js';

export interface MethodSpec {
  method: string;
  /** Server-streaming: read until the end or the error. */
  streaming: boolean;
  message: fc.Arbitrary<Record<string, unknown>>;
}

/** The request fields always set, and a few of the optional ones. */
function message(required: Record<string, fc.Arbitrary<unknown>>, optional: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<Record<string, unknown>> {
  const names = Object.keys(optional);
  const some = fc.subarray(names, { maxLength: Math.min(4, names.length) }).chain((chosen) => fc.record(Object.fromEntries(chosen.map((name) => [name, optional[name]!]))));
  return fc.tuple(fc.record(required), some).map(([always, sometimes]) => ({ ...always, ...sometimes }));
}

/** Mostly small, sometimes any uint32. */
const uint32 = (small: number) => fc.oneof({ weight: 6, arbitrary: fc.integer({ min: 0, max: small }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 2 ** 32 - 1 }) });
const int32 = fc.oneof(fc.integer({ min: -8, max: 8 }), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }));
const double = fc.oneof(fc.double({ min: 0, max: 1 }), fc.double());
const float = fc.oneof(fc.float({ min: 0, max: 2 }), fc.float());
const text = fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: 24 }) }, { weight: 1, arbitrary: fc.string({ maxLength: 24, unit: 'binary' }) });
const oneOf = (...known: string[]) => fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...known) }, { weight: 1, arbitrary: text });
const model = oneOf('vit', 'clip', 'captioner', 'chat', 'nope');
const labels = fc.array(oneOf('cat', 'dog', 'sofa', ...POLLUTION_KEYS), { maxLength: 6 });
const templates = fc.array(oneOf('a photo of a {label}.', '{label}'), { maxLength: 3 });
const descriptions = fc.dictionary(oneOf('cat', 'dog', ...POLLUTION_KEYS), fc.record({ texts: fc.array(text, { maxLength: 3 }) }), { maxKeys: 4 });
const render = { format: oneOf('png', 'json', 'both'), colormap: oneOf('jet', 'viridis', 'inferno'), alpha: double };

/** The methods and their messages, given the image bytes and data URL to use (valid most of the time). */
export function methodSpecs(png: Uint8Array): MethodSpec[] {
  const bytes = fc.oneof({ weight: 4, arbitrary: fc.constant(png) }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) });
  const images = fc.array(bytes, { maxLength: 3 });
  const dataUrl = fc.oneof(fc.constant(`data:image/png;base64,${Buffer.from(png).toString('base64')}`), fc.base64String({ maxLength: 40 }).map((b) => `data:image/png;base64,${b}`));
  const prompts = { strategy: oneOf('plain', 'template', 'descriptive', 'ensemble'), template: oneOf('a photo of a {label}.', 'no placeholder'), templates, descriptions, top_k: uint32(8), multi_label: fc.boolean(), model };
  const caption = message(
    { image: bytes },
    {
      images,
      model,
      max_new_tokens: uint32(8),
      min_new_tokens: uint32(8),
      temperature: float,
      top_k: uint32(50),
      top_p: float,
      seed: uint32(1000),
      stop: fc.array(text, { maxLength: 3 }),
      embed: fc.boolean(),
      embed_model: model,
      prompt: oneOf('a photography of', ''),
      repetition_penalty: float,
      no_repeat_ngram_size: uint32(4),
      num_beams: uint32(8),
      length_penalty: float,
      early_stopping: fc.boolean(),
    },
  );
  const part = message(
    { type: oneOf('text', 'image_url', 'image') },
    { text, image_url: message({ url: fc.oneof(dataUrl, text) }, { detail: oneOf('auto', 'low', 'high') }), image: bytes },
  );
  const role = oneOf('user', 'user', 'system', 'developer', 'assistant');
  const parts = fc.array(part, { maxLength: 3 });
  // `content` or `parts`; both (refused) now and then.
  const chatMessage = fc.oneof({ weight: 3, arbitrary: fc.record({ role, content: text }) }, { weight: 3, arbitrary: fc.record({ role, parts }) }, { weight: 1, arbitrary: message({ role }, { content: text, parts }) });
  // An image or an embedding (the tiny CLIP's 16 dimensions); neither or both now and then.
  const embedding = fc.oneof(fc.array(fc.float({ min: -1, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 }), fc.array(float, { maxLength: 20 }));
  const label = oneOf('a', 'b');
  const example = fc.oneof(
    { weight: 3, arbitrary: fc.record({ label, image: bytes }) },
    { weight: 3, arbitrary: fc.record({ label, embedding }) },
    { weight: 1, arbitrary: message({ label }, { image: bytes, embedding }) },
  );
  return [
    { method: 'Classify', streaming: false, message: message({ image: bytes }, { top_k: uint32(20), model }) },
    { method: 'ZeroShot', streaming: false, message: message({ image: bytes, labels }, { images, ...prompts }) },
    { method: 'Embed', streaming: false, message: message({ input: fc.array(fc.oneof(text, dataUrl), { maxLength: 4 }) }, { model }) },
    {
      method: 'Explain',
      streaming: false,
      message: message({ image: bytes }, { method: oneOf('cls', 'rollout', 'similarity'), layer: int32, start_layer: int32, heads: oneOf('mean', 'max', 'all', '0', '7'), ...render, classify: fc.boolean(), top_k: uint32(20), model }),
    },
    { method: 'Localize', streaming: false, message: message({ image: bytes, labels }, { ...prompts, ...render }) },
    { method: 'Caption', streaming: false, message: caption },
    { method: 'CaptionStream', streaming: true, message: caption },
    {
      method: 'Chat',
      streaming: true,
      message: message(
        { messages: fc.array(chatMessage, { minLength: 1, maxLength: 3 }) },
        { model, max_tokens: uint32(8), temperature: float, top_p: float, seed: uint32(1000), stop: fc.array(text, { maxLength: 3 }), timeout_ms: uint32(5000), min_tokens: uint32(8) },
      ),
    },
    {
      method: 'FitAlignment',
      streaming: false,
      message: message({ name: fc.oneof({ weight: 4, arbitrary: fc.constantFrom('fuzz', 'fuzz-2') }, { weight: 1, arbitrary: oneOf('../escape', '') }), examples: fc.array(example, { maxLength: 4 }) }, { model, strategy: prompts.strategy, template: prompts.template, templates, descriptions, holdout: double, seed: uint32(1000) }),
    },
    { method: 'ListAlignments', streaming: false, message: fc.constant({}) },
    { method: 'DeleteAlignment', streaming: false, message: message({}, { name: oneOf('fuzz', 'fuzz-2', 'missing', '../escape', '') }) },
    { method: 'ListModels', streaming: false, message: fc.constant({}) },
  ];
}
