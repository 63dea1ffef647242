/**
 * fast-check arbitraries for request bodies, shared by the in-process schema fuzz and the HTTP
 * fuzz: objects that mix a route's real field names (read from its zod schema) with plausible
 * and arbitrary values, often starting from a valid request so deep paths are reached too, plus
 * hostile values (prototype-pollution keys, deep nesting, huge strings and arrays). Decoding
 * fields (token counts, beams) stay small most of the time so one request never eats the budget.
 */
import fc from 'fast-check';
import { z } from 'zod';

/** Keys that pollute a prototype when code assigns them naively. */
export const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype'] as const;

/** What the transport under test puts where an image goes. */
export interface ImageValues {
  /** An `image` field: base64 text (JSON), or bytes (the shape services see). */
  image: fc.Arbitrary<unknown>;
  /** A `data:` URL (chat's image_url, an embeddings input). */
  dataUrl: fc.Arbitrary<string>;
  /** Longest generated string (arrays take an eighth of it). */
  hugeLength: number;
}

/** The top-level field names of a request schema (an object, possibly refined and transformed). */
export function schemaFields(schema: z.ZodType): string[] {
  if (schema instanceof z.ZodObject) return Object.keys(schema.shape);
  if (schema instanceof z.ZodPipe) return schemaFields(schema.in as z.ZodType);
  return [];
}

/** An object with own data properties, even `__proto__` (as JSON.parse builds them). */
const ownObject = (entries: Iterable<readonly [string, unknown]>): Record<string, unknown> => Object.fromEntries(entries);

/** `depth` nested arrays and objects around a string. */
function nested(depth: number): unknown {
  let value: unknown = 'deep';
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? [value] : ownObject([['a', value]]);
  return value;
}

/** Values meant to break parsers and copies rather than to be plausible. */
export function hostileValue(hugeLength: number): fc.Arbitrary<unknown> {
  const payload = { polluted: 'yes', prototype: { polluted: 'yes' } };
  return fc.oneof(
    fc.constantFrom(...POLLUTION_KEYS).map((key) => ownObject([[key, payload]])),
    fc.constant(ownObject([['constructor', { prototype: { polluted: 'yes' } }]])),
    fc.integer({ min: 1, max: 2_000 }).map(nested),
    fc.integer({ min: 0, max: hugeLength }).map((n) => 'A'.repeat(n)),
    fc.integer({ min: 0, max: Math.floor(hugeLength / 8) }).map((n) => new Array<number>(n).fill(1)),
    fc.integer({ min: 0, max: Math.floor(hugeLength / 8) }).map((n) => new Array<string>(n).fill('cat')),
  );
}

/** The values code forgets: empty, one character, the wrong container. */
const edgeValue = fc.constantFrom<unknown>('', 'a', ' ', [], [''], {}, null, 0, -1, true, 'null', '[]');

/** Anything JSON can carry, the edge values, and the hostile values. */
export function anyValue(hugeLength: number): fc.Arbitrary<unknown> {
  return fc.oneof(
    { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
    { weight: 1, arbitrary: edgeValue },
    { weight: 1, arbitrary: hostileValue(hugeLength) },
  );
}

/** An integer as JSON or a form sends it: mostly small, sometimes any integer, a float or a string of digits. */
const smallInteger = (max: number) =>
  fc.oneof(
    { weight: 8, arbitrary: fc.integer({ min: -1, max }) },
    { weight: 1, arbitrary: fc.integer() },
    { weight: 1, arbitrary: fc.double() },
    { weight: 1, arbitrary: fc.integer({ min: -1, max }).map(String) },
  );

const number = fc.oneof(fc.double({ min: -1, max: 3, noNaN: true }), fc.double(), fc.double({ min: 0, max: 1 }).map(String));
const boolean = fc.oneof(fc.boolean(), fc.constantFrom('true', 'false', 'yes', ''));
const MODEL_IDS = ['vit', 'clip', 'captioner', 'chat', 'nope', ''];
/** Printable ASCII mostly; sometimes any code point, lone surrogates included. */
const text = (max = 24) => fc.oneof({ weight: 3, arbitrary: fc.string({ maxLength: max }) }, { weight: 1, arbitrary: fc.string({ maxLength: max, unit: 'binary' }) });
const labels = fc.array(fc.oneof(fc.constantFrom('cat', 'dog', 'sofa', 'constructor', '__proto__', 'toString'), text(12)), { minLength: 1, maxLength: 6 });
const withLabel = fc.oneof(fc.constantFrom('a photo of a {label}.', '{label}', 'no placeholder'), text().map((t) => `${t}{label}`));
/** A list field as JSON sends it, as one form field, or as a JSON array in a string. */
const listOf = (item: fc.Arbitrary<string>) =>
  fc.oneof(fc.array(item, { maxLength: 6 }), item, fc.array(item, { maxLength: 4 }).map((items) => JSON.stringify(items)));
const descriptions = fc
  .array(fc.tuple(fc.oneof(fc.constantFrom('cat', 'dog', ...POLLUTION_KEYS), text(12)), fc.array(text(30), { maxLength: 3 })), { maxLength: 4 })
  .chain((entries) => fc.constantFrom<unknown>(ownObject(entries), JSON.stringify(ownObject(entries))));

function chatMessages(images: ImageValues): fc.Arbitrary<unknown> {
  const part = fc.oneof(
    fc.record({ type: fc.constant('text'), text: text(40) }),
    fc.record({
      type: fc.constant('image_url'),
      image_url: fc.oneof(fc.record({ url: images.dataUrl, detail: fc.constantFrom('auto', 'low', 'high', 'ultra') }, { requiredKeys: ['url'] }), images.dataUrl),
    }),
    fc.record({ type: fc.constantFrom('image', 'video', ''), image: images.image, text: text() }, { requiredKeys: [] }),
    anyValue(images.hugeLength),
  );
  const message = fc.record(
    {
      role: fc.constantFrom('user', 'user', 'system', 'developer', 'assistant', 'tool', ''),
      content: fc.oneof(text(60), fc.array(part, { maxLength: 3 })),
      name: text(),
    },
    { requiredKeys: ['role', 'content'] },
  );
  return fc.oneof({ weight: 4, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }) }, { weight: 1, arbitrary: anyValue(images.hugeLength) });
}

/** An embedding of the tiny test CLIP (16 dimensions). */
const clipEmbedding = fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 16, maxLength: 16 });

/** A fit example: an image, an embedding, both or neither, and a label. */
function alignmentExample(images: ImageValues, label: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc.record({ image: images.image, embedding: fc.oneof(clipEmbedding, fc.array(fc.double(), { maxLength: 20 })), label }, { requiredKeys: ['label'] });
}

/** An example the fit takes: an image or an embedding. */
const validExample = (images: ImageValues, label: string) =>
  fc.oneof(fc.record({ image: images.image, label: fc.constant(label) }), fc.record({ embedding: clipEmbedding, label: fc.constant(label) }));

/** Plausible values for a field, by its name; any other name gets arbitrary JSON. */
export function fieldValue(field: string, images: ImageValues): fc.Arbitrary<unknown> {
  const plausible: Record<string, fc.Arbitrary<unknown>> = {
    image: images.image,
    images: fc.oneof(fc.array(images.image, { maxLength: 3 }), images.image),
    model: fc.constantFrom(...MODEL_IDS),
    embed_model: fc.constantFrom(...MODEL_IDS),
    top_k: smallInteger(20),
    timeout_ms: smallInteger(5_000),
    layer: smallInteger(4),
    start_layer: smallInteger(4),
    max_new_tokens: smallInteger(8),
    min_new_tokens: smallInteger(8),
    max_tokens: smallInteger(8),
    max_completion_tokens: smallInteger(8),
    min_tokens: smallInteger(8),
    num_beams: smallInteger(8),
    no_repeat_ngram_size: smallInteger(4),
    seed: smallInteger(1_000),
    n: smallInteger(2),
    alpha: number,
    temperature: number,
    top_p: number,
    repetition_penalty: number,
    length_penalty: number,
    holdout: number,
    classify: boolean,
    multi_label: boolean,
    early_stopping: boolean,
    stream: boolean,
    embed: boolean,
    method: fc.constantFrom('cls', 'rollout', 'similarity', 'gradcam'),
    heads: fc.oneof(fc.constantFrom('mean', 'max', 'all', '0', '1', '99'), smallInteger(4)),
    format: fc.constantFrom('png', 'json', 'both', 'gif'),
    colormap: fc.constantFrom('jet', 'viridis', 'inferno', 'rainbow'),
    strategy: fc.constantFrom('plain', 'template', 'descriptive', 'ensemble', 'best'),
    encoding_format: fc.constantFrom('float', 'base64', 'int8'),
    labels: fc.oneof(labels, listOf(text(12))),
    template: withLabel,
    templates: listOf(withLabel),
    descriptions,
    stop: listOf(text(8)),
    prompt: fc.oneof(fc.constantFrom('a photography of', ''), text(40)),
    name: fc.constantFrom('fuzz', 'fuzz.2', '../escape', '', 'a'.repeat(65)),
    alignment: fc.constantFrom('fuzz', 'missing', ''),
    input: fc.oneof(text(40), fc.array(fc.oneof(text(40), images.dataUrl, fc.constant('data:application/pdf;base64,JVBERi0=')), { maxLength: 4 })),
    messages: chatMessages(images),
    examples: fc.array(alignmentExample(images, fc.oneof(fc.constantFrom('a', 'b'), anyValue(64))), { maxLength: 4 }),
    stream_options: fc.oneof(fc.record({ include_usage: boolean }, { requiredKeys: [] }), fc.constant(null)),
    user: text(),
  };
  const own = Object.hasOwn(plausible, field) ? plausible[field] : undefined;
  return own ? fc.oneof({ weight: 4, arbitrary: own }, { weight: 1, arbitrary: anyValue(images.hugeLength) }) : anyValue(images.hugeLength);
}

/** A valid request for each route (given a valid image), for mutations to start from. */
function validRequest(path: string, images: ImageValues): fc.Arbitrary<Record<string, unknown>> {
  const someLabels = fc.constantFrom(['cat', 'dog'], ['sofa'], ['a', 'b', 'c']);
  switch (path) {
    case '/v1/zero-shot':
    case '/v1/zero-shot/localize':
      return fc.record({ image: images.image, labels: someLabels });
    case '/v1/zero-shot/alignments':
      return fc.record({ name: fc.constantFrom('fuzz', 'fuzz-2'), examples: fc.tuple(validExample(images, 'a'), validExample(images, 'b')) });
    case '/v1/embeddings':
      return fc.record({ input: fc.oneof(text(40), fc.array(fc.oneof(text(40), images.dataUrl), { minLength: 1, maxLength: 3 })) });
    case '/v1/caption':
      return fc.record({ image: images.image, max_new_tokens: fc.integer({ min: 1, max: 6 }) });
    case '/v1/chat/completions':
      return fc.record({
        messages: images.dataUrl.map((url) => [{ role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: 'what is it?' }] }]),
        max_tokens: fc.integer({ min: 1, max: 6 }),
      });
    default:
      return fc.record({ image: images.image });
  }
}

/**
 * A request body for the route at `path` with these fields: a valid request with a few fields
 * set to other values, or any fields at all; either may gain unknown and prototype-pollution keys.
 */
export function requestBody(path: string, fields: readonly string[], images: ImageValues): fc.Arbitrary<Record<string, unknown>> {
  const someFields = (maxLength: number) =>
    fc.subarray([...fields], { maxLength }).chain((chosen) => fc.tuple(...chosen.map((field) => fieldValue(field, images).map((value) => [field, value] as const))));
  const extraKeys = fc.array(fc.tuple(fc.oneof(fc.constantFrom(...POLLUTION_KEYS), text(10)), anyValue(images.hugeLength)), { maxLength: 2 });
  // A valid request with a few fields changed, and sometimes one of its own fields left out.
  const mutated = fc
    .tuple(validRequest(path, images), someFields(3), fc.oneof({ weight: 3, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.nat() }))
    .map(([valid, changes, dropAt]) => {
      const kept = Object.entries(valid).filter((_, i, all) => dropAt === null || i !== dropAt % all.length);
      return ownObject([...kept, ...changes]);
    });
  const chaotic = someFields(fields.length).map((entries) => ownObject(entries));
  return fc
    .tuple(fc.oneof({ weight: 3, arbitrary: mutated }, { weight: 1, arbitrary: chaotic }), fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: extraKeys }))
    .map(([body, extra]) => (extra ? ownObject([...Object.entries(body), ...extra]) : body));
}

const BASELINE = {
  object: Object.getOwnPropertyNames(Object.prototype).sort().join(),
  array: Object.getOwnPropertyNames(Array.prototype).sort().join(),
  function: Object.getOwnPropertyNames(Function.prototype).sort().join(),
};

/** Throws when a built-in prototype gained a property since this module loaded (prototype pollution). */
export function assertNoPrototypePollution(): void {
  const now = {
    object: Object.getOwnPropertyNames(Object.prototype).sort().join(),
    array: Object.getOwnPropertyNames(Array.prototype).sort().join(),
    function: Object.getOwnPropertyNames(Function.prototype).sort().join(),
  };
  const probe = {} as Record<string, unknown>;
  if (probe.polluted !== undefined || now.object !== BASELINE.object || now.array !== BASELINE.array || now.function !== BASELINE.function) {
    throw new Error(`a built-in prototype was polluted: ${JSON.stringify({ now, before: BASELINE, polluted: probe.polluted })}`);
  }
}
