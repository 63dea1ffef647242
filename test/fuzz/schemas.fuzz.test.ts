/**
 * In-process fuzz of the request edge (issue #30), no server: every task service's zod schema
 * (and chat's own parsing), the JSON shape guard that runs before JSON.parse, and the base64 /
 * data-URL image decoding of JSON bodies. Properties: bad input only ever ends in the project's
 * ApiError with a client code (never a TypeError or RangeError, which a transport would answer
 * 500), no built-in prototype is polluted, the guard refuses exactly the valid JSON over its
 * limits, and valid base64 of any bytes decodes back to those bytes.
 * This file takes 20% of the fuzz suite's time (fuzz-budget.ts).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ApiError, type ErrorCode } from '../../src/errors.js';
import { parseChatRequest } from '../../src/server/chat-schema.js';
import { checkJsonShape, type JsonShapeLimits } from '../../src/server/http/json-guard.js';
import { imageBytesFromString, parseRequest } from '../../src/server/schemas.js';
import { TASK_SERVICES } from '../../src/server/services/index.js';
import { fuzzParameters, fuzzTestTimeoutMs } from './fuzz-budget.js';
import { anyValue, assertNoPrototypePollution, hostileValue, requestBody, schemaFields, type ImageValues } from './request-arbitraries.js';

const SHARE = { schemas: 0.08, guardTexts: 0.03, guardBytes: 0.03, imageStrings: 0.03, imageRoundTrip: 0.03 };

/** Throws unless `error` is an ApiError with one of `codes`. */
function assertApiError(error: unknown, codes: readonly ErrorCode[]): void {
  if (error instanceof ApiError && codes.includes(error.code)) return;
  throw new Error(`expected ApiError ${codes.join('/')}, got ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`, { cause: error });
}

/** Runs `parse`; a throw must be an ApiError with one of `codes`. */
function refusesOnlyWith(codes: readonly ErrorCode[], parse: () => unknown): void {
  try {
    parse();
  } catch (error) {
    assertApiError(error, codes);
  }
}

const IMAGE_BYTES_LIMIT = 1 << 20;
const base64Of = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64');

/** Images as services see them after the transport: bytes, or what JSON left as it was. */
const inProcessImages: ImageValues = {
  image: fc.oneof({ weight: 3, arbitrary: fc.uint8Array({ maxLength: 64 }) }, { weight: 1, arbitrary: fc.string() }),
  dataUrl: fc.oneof(fc.uint8Array({ maxLength: 48 }).map((bytes) => `data:image/png;base64,${base64Of(bytes)}`), fc.string(), fc.constant('https://example.com/cat.png')),
  hugeLength: 1_000_000,
};

describe('request schemas under arbitrary input', () => {
  it('refuse with invalid_request only, and pollute no prototype', { timeout: fuzzTestTimeoutMs(SHARE.schemas) }, () => {
    const cases = fc.constantFrom(...TASK_SERVICES).chain((service) =>
      fc.tuple(
        fc.constant(service),
        fc.oneof(
          { weight: 4, arbitrary: requestBody(service.http.path, schemaFields(service.schema), inProcessImages) },
          { weight: 1, arbitrary: anyValue(inProcessImages.hugeLength) },
        ),
      ),
    );
    fc.assert(
      fc.property(cases, ([service, raw]) => {
        refusesOnlyWith(['invalid_request'], () => parseRequest(service.schema, raw));
        // Chat parses further (images in data: URLs, unsupported OpenAI fields, the image count).
        if (service.http.path === '/v1/chat/completions') {
          refusesOnlyWith(['invalid_request', 'invalid_image', 'payload_too_large'], () => parseChatRequest(raw, IMAGE_BYTES_LIMIT));
        }
        assertNoPrototypePollution();
      }),
      fuzzParameters(SHARE.schemas),
    );
  });

  it('reads every service schema\'s field names (the fuzz would otherwise miss them)', () => {
    for (const service of TASK_SERVICES) assert.ok(schemaFields(service.schema).length > 0, service.http.path);
  });
});

/** The shape of a parsed JSON value as the guard counts it in the text. */
function jsonShape(value: unknown, depth = 0): { keys: number; depth: number; commas: number } {
  if (value === null || typeof value !== 'object') return { keys: 0, depth, commas: 0 };
  const children = Array.isArray(value) ? value : Object.values(value);
  const shape = { keys: Array.isArray(value) ? 0 : children.length, depth: depth + 1, commas: Math.max(0, children.length - 1) };
  for (const child of children) {
    const inner = jsonShape(child, depth + 1);
    shape.keys += inner.keys;
    shape.depth = Math.max(shape.depth, inner.depth);
    shape.commas += inner.commas;
  }
  return shape;
}

const smallLimits: fc.Arbitrary<JsonShapeLimits> = fc.record({
  maxKeys: fc.integer({ min: 0, max: 30 }),
  maxDepth: fc.integer({ min: 0, max: 10 }),
  maxValues: fc.integer({ min: 1, max: 60 }),
});

/** Whether the guard lets these bytes through; a refusal must be the project's invalid_request. */
function guardPasses(bytes: Uint8Array, limits: JsonShapeLimits): boolean {
  try {
    checkJsonShape(bytes, limits);
    return true;
  } catch (error) {
    assertApiError(error, ['invalid_request']);
    return false;
  }
}

/** Any string, with JSON's structural characters and escapes over-represented. */
const jsonishText = fc.oneof(
  fc.string({ unit: 'binary' }),
  fc.string({ unit: fc.constantFrom('{', '}', '[', ']', '"', '\\', ':', ',', 'a', '1', ' ', '\\"', 'null'), maxLength: 80 }),
  fc.tuple(fc.json(), fc.nat(), fc.constantFrom('"', '\\', '{', '[', ']', '}', ':', ',')).map(([text, at, insert]) => text.slice(0, at % (text.length + 1)) + insert + text.slice(at % (text.length + 1))),
);

describe('JSON shape guard', () => {
  it('refuses exactly the valid JSON texts over its limits', { timeout: fuzzTestTimeoutMs(SHARE.guardTexts) }, () => {
    const value = fc.oneof({ weight: 4, arbitrary: fc.jsonValue({ maxDepth: 6 }) }, { weight: 1, arbitrary: hostileValue(2_000) });
    fc.assert(
      fc.property(value, fc.constantFrom(undefined, 0, 2, '\t'), smallLimits, (parsedValue, indent, limits) => {
        const text = JSON.stringify(parsedValue, null, indent);
        if (text === undefined) return;
        const shape = jsonShape(JSON.parse(text));
        const within = shape.keys <= limits.maxKeys && shape.depth <= limits.maxDepth && shape.commas + 1 <= limits.maxValues;
        assert.equal(guardPasses(Buffer.from(text), limits), within, `shape ${JSON.stringify(shape)} against ${JSON.stringify(limits)}`);
      }),
      fuzzParameters(SHARE.guardTexts),
    );
  });

  it('never throws anything but invalid_request, and agrees with JSON.parse on what it passes', { timeout: fuzzTestTimeoutMs(SHARE.guardBytes) }, () => {
    const bytes = fc.oneof(jsonishText.map((text) => new Uint8Array(Buffer.from(text))), fc.uint8Array({ maxLength: 200 }));
    fc.assert(
      fc.property(bytes, smallLimits, (body, limits) => {
        const passes = guardPasses(body, limits);
        let parsed: unknown;
        try {
          parsed = JSON.parse(Buffer.from(body).toString('utf8'));
        } catch {
          return; // malformed JSON is the parser's to refuse
        }
        // Duplicate keys parse into fewer keys (and commas) than the text has: the parsed shape is a lower bound.
        const shape = jsonShape(parsed);
        const within = shape.keys <= limits.maxKeys && shape.depth <= limits.maxDepth && shape.commas + 1 <= limits.maxValues;
        if (!within) assert.equal(passes, false, `valid JSON over the limits passed: ${JSON.stringify(shape)} against ${JSON.stringify(limits)}`);
        else if (!body.includes(0x3a)) assert.ok(passes, 'the guard refused valid JSON within its limits');
      }),
      fuzzParameters(SHARE.guardBytes),
    );
  });
});

/** Valid encodings of `bytes` that clients send: padded, unpadded, url-safe, MIME-wrapped, data URLs. */
function encodings(bytes: Uint8Array): fc.Arbitrary<string> {
  const padded = Buffer.from(bytes).toString('base64');
  const mediaType = fc.constantFrom('image/png', 'image/jpeg', 'application/octet-stream', 'IMAGE/PNG');
  const params = fc.constantFrom('', ';charset=utf-8', ';name=cat.png');
  return fc.oneof(
    fc.constant(padded),
    fc.constant(padded.replace(/=+$/, '')),
    fc.constant(Buffer.from(bytes).toString('base64url')),
    fc.constant(padded.replace(/.{1,76}/g, '$&\r\n')),
    fc.tuple(mediaType, params).map(([type, extra]) => `data:${type}${extra};base64,${padded}`),
    fc.constant(`data:;base64,${padded}`),
  );
}

describe('JSON image decoding (base64 and data URLs)', () => {
  it('gives bytes or an invalid_image / invalid_request / payload_too_large ApiError for any string', { timeout: fuzzTestTimeoutMs(SHARE.imageStrings) }, () => {
    const base64ish = fc.string({ unit: fc.constantFrom('A', 'z', '0', '+', '/', '-', '_', '=', ' ', '\n', '%', 'é'), maxLength: 64 });
    const value = fc.oneof(
      fc.string({ unit: 'binary' }),
      base64ish,
      fc.tuple(fc.constantFrom('data:', 'data:image/png;base64,', 'DATA:image/png;base64,', 'data:image/png,', 'data:image/png;a=b;base64,', 'http://', 'HTTPS://x/'), base64ish).map(([prefix, rest]) => prefix + rest),
    );
    fc.assert(
      fc.property(value, fc.integer({ min: 0, max: 64 }), (text, maxBytes) => {
        refusesOnlyWith(['invalid_image', 'invalid_request', 'payload_too_large'], () => {
          assert.ok(imageBytesFromString(text, maxBytes) instanceof Uint8Array);
        });
      }),
      fuzzParameters(SHARE.imageStrings),
    );
  });

  it('decodes valid base64 of random bytes back to them (or refuses it as too large)', { timeout: fuzzTestTimeoutMs(SHARE.imageRoundTrip) }, () => {
    const cases = fc.uint8Array({ minLength: 1, maxLength: 300 }).chain((bytes) => fc.tuple(fc.constant(bytes), encodings(bytes), fc.integer({ min: 0, max: 320 })));
    fc.assert(
      fc.property(cases, ([bytes, text, maxBytes]) => {
        let decoded: Uint8Array;
        try {
          decoded = imageBytesFromString(text, maxBytes);
        } catch (error) {
          assertApiError(error, ['payload_too_large']);
          assert.ok(bytes.length > maxBytes, `${bytes.length} bytes refused as over a ${maxBytes}-byte limit`);
          return;
        }
        assert.deepEqual(Buffer.from(decoded), Buffer.from(bytes));
      }),
      fuzzParameters(SHARE.imageRoundTrip),
    );
  });
});
