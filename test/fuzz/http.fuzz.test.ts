/**
 * HTTP fuzz of every POST route of the real server (issue #30), in-process on every task's tiny
 * model: JSON objects mixing the route's real fields (from its zod schema) with arbitrary values,
 * arbitrary bytes under random Content-Types and encodings, and multipart forms built from random
 * parts and then broken. Property: no answer is a 5xx (a 504 only for a request that set its own
 * `timeout_ms`), every other error is `{error: {code, message}}` with a code of the error table
 * and that code's status, a stream ends with its last event, nothing hangs, no built-in prototype
 * is polluted, and GET /healthz still answers 200 after each case. Also: a JSON body over the
 * shape limits is refused before it is parsed, in every charset the JSON parser accepts.
 * This file takes 45% of the fuzz suite's time (fuzz-budget.ts).
 */
import assert from 'node:assert/strict';
import { deflateSync, gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { JSON_SHAPE_LIMITS } from '../../src/server/http/json-guard.js';
import { TASK_SERVICES, type TaskService } from '../../src/server/services/index.js';
import { fuzzParameters, fuzzTestTimeoutMs } from './fuzz-budget.js';
import { smallPng, startFuzzServer, trackingLastRun, type FuzzServer } from './fuzz-server.js';
import { assertAnswer, REQUEST_TIMEOUT_MS, send, type HttpCase } from './http-answers.js';
import { assertNoPrototypePollution, fieldValue, POLLUTION_KEYS, requestBody, schemaFields, type ImageValues } from './request-arbitraries.js';

const SHARE = { json: 0.17, bytes: 0.1, multipart: 0.12, charsets: 0.06 };

/** Fields the transport reads itself, beside each schema's (`images` and `labels` of a form, `stream`). */
const TRANSPORT_FIELDS = ['image', 'images', 'labels', 'stream'];

/** A route's field names: its schema's and the transport's. */
const fieldsOf = (service: TaskService) => [...new Set([...schemaFields(service.schema), ...TRANSPORT_FIELDS])];

/** Whether these (uncompressed) bytes may set `timeout_ms`. */
const mentionsDeadline = (...texts: (string | Uint8Array)[]) => texts.some((text) => Buffer.from(text).includes('timeout_ms'));

/** A raw body: bytes, text, or the small PNG as it is or damaged at one byte (cut there, or that byte changed). */
type BytesSpec = Uint8Array | string | { png: 'intact' } | { png: 'damaged'; at: number; byte: number; cut: boolean };

/** Printable ASCII: any header value fetch lets through. */
const headerText = fc.string({ maxLength: 40 });
const someAccept = fc.option(fc.constantFrom('application/json', 'text/plain', 'image/png', '*/*', 'text/event-stream'), { freq: 2 });

describe('HTTP routes under fuzzed requests', () => {
  let fuzz: FuzzServer;
  let png: Buffer;
  let images: ImageValues;

  before(async () => {
    fuzz = await startFuzzServer();
    png = await smallPng();
    const base64 = png.toString('base64');
    images = {
      image: fc.oneof(
        { weight: 6, arbitrary: fc.constantFrom(base64, `data:image/png;base64,${base64}`) },
        { weight: 1, arbitrary: fc.base64String({ maxLength: 64 }) },
        { weight: 1, arbitrary: fc.oneof(fc.string(), fc.constant('https://example.com/cat.png'), fc.constant(`data:text/plain;base64,${base64}`)) },
      ),
      dataUrl: fc.oneof(
        { weight: 6, arbitrary: fc.constant(`data:image/png;base64,${base64}`) },
        { weight: 1, arbitrary: fc.base64String({ maxLength: 64 }).map((text) => `data:image/png;base64,${text}`) },
        { weight: 1, arbitrary: fc.oneof(fc.string(), fc.constant('http://example.com/cat.png'), fc.constant(`data:image/png,${base64}`)) },
      ),
      hugeLength: 100_000,
    };
  });
  after(async () => {
    await fuzz?.close();
  });

  /** Sends each case, checks the answer, then that the server is still healthy and unpolluted. */
  async function checkCase(c: HttpCase): Promise<void> {
    assertAnswer(c, await send(fuzz.base, c));
    const health = await fetch(`${fuzz.base}/healthz`, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
    assert.equal(health.status, 200, 'GET /healthz after the case');
    await health.arrayBuffer();
    assertNoPrototypePollution();
  }

  /** Runs the property over readable case specs; `build` turns one into the request sent. */
  async function fuzzCases<Spec>(specs: fc.Arbitrary<Spec>, build: (spec: Spec) => HttpCase, share: number): Promise<void> {
    const tracked = trackingLastRun((spec: Spec) => checkCase(build(spec)));
    await fc.assert(fc.asyncProperty(specs, tracked.predicate), fuzzParameters(share));
    await tracked.lastRun();
  }

  const route = () => fc.constantFrom(...TASK_SERVICES);

  it('JSON bodies mixing real fields with arbitrary values', { timeout: fuzzTestTimeoutMs(SHARE.json) }, async () => {
    const specs = route().chain((service) =>
      fc.record({
        path: fc.constant(service.http.path),
        body: requestBody(service.http.path, fieldsOf(service), images),
        type: fc.oneof(
          { weight: 6, arbitrary: fc.constant('application/json') },
          { weight: 1, arbitrary: fc.constantFrom('application/json; charset=utf-8', 'APPLICATION/JSON', 'application/json; charset=utf-16le', 'application/json; charset=latin1') },
        ),
        encoding: fc.constantFrom(undefined, undefined, undefined, 'gzip', 'deflate'),
        accept: someAccept,
      }),
    );
    await fuzzCases(
      specs,
      ({ path, body, type, encoding, accept }) => {
        const text = JSON.stringify(body);
        const bytes = Buffer.from(text, type.includes('utf-16le') ? 'utf16le' : 'utf8');
        return {
          path,
          query: '',
          asksDeadline: mentionsDeadline(text),
          headers: { 'content-type': type, ...(encoding && { 'content-encoding': encoding }), ...(accept && { accept }) },
          body: encoding === 'gzip' ? gzipSync(bytes) : encoding === 'deflate' ? deflateSync(bytes) : bytes,
        };
      },
      SHARE.json,
    );
  });

  it('arbitrary bytes under random Content-Types and Content-Encodings', { timeout: fuzzTestTimeoutMs(SHARE.bytes) }, async () => {
    const bytes: fc.Arbitrary<BytesSpec> = fc.oneof(
      fc.uint8Array({ maxLength: 2048 }),
      fc.constant({ png: 'intact' as const }),
      fc.record({ png: fc.constant('damaged' as const), at: fc.nat(), byte: fc.nat(255), cut: fc.boolean() }),
      fc.json(),
      fc.string({ unit: 'binary' }),
    );
    const type = fc.option(
      fc.oneof(
        fc.constantFrom('application/json', 'multipart/form-data; boundary=xyz', 'multipart/form-data', 'image/png', 'image/jpeg', 'image/svg+xml', 'application/octet-stream', 'text/plain', 'application/x-www-form-urlencoded'),
        headerText,
      ),
      { freq: 6 },
    );
    const query = fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom('top_k', 'model', 'timeout_ms', 'method', 'heads', 'format', 'labels', 'stream', 'max_new_tokens', ...POLLUTION_KEYS), headerText),
        fc.oneof(fc.constantFrom('3', 'vit', 'true', '-1', '1e9'), headerText),
      ),
      { maxLength: 3 },
    );
    const specs = fc.record({
      path: route().map((service) => service.http.path),
      query,
      bytes,
      type,
      encoding: fc.constantFrom(undefined, undefined, undefined, 'gzip', 'deflate', 'br', 'identity', 'compress'),
      // Really compressed as announced, or bytes that lie about their encoding.
      compressed: fc.boolean(),
      accept: someAccept,
    });
    const toBytes = (spec: BytesSpec): Buffer => {
      if (typeof spec === 'string' || spec instanceof Uint8Array) return Buffer.from(spec);
      if (spec.png === 'intact') return png;
      const damaged = Buffer.from(png);
      const at = spec.at % damaged.length;
      return spec.cut ? damaged.subarray(0, at) : (damaged.writeUInt8(spec.byte, at), damaged);
    };
    await fuzzCases(
      specs,
      ({ path, query, bytes, type, encoding, compressed, accept }) => ({
        path,
        query: query.length ? `?${new URLSearchParams(query).toString()}` : '',
        asksDeadline: mentionsDeadline(toBytes(bytes), ...query.map(([key]) => key)),
        body: encoding === 'gzip' && compressed ? gzipSync(toBytes(bytes)) : toBytes(bytes),
        headers: { ...(type !== null && { 'content-type': type }), ...(encoding && { 'content-encoding': encoding }), ...(accept && { accept }) },
      }),
      SHARE.bytes,
    );
  });

  it('multipart forms from random parts, then broken', { timeout: fuzzTestTimeoutMs(SHARE.multipart) }, async () => {
    const specs = route().chain((service) => {
      const textPart = fc.constantFrom(...fieldsOf(service)).chain((name) =>
        fc.record({ name: fc.constant(name), value: fieldValue(name, images).map((v) => (typeof v === 'string' ? v : (JSON.stringify(v) ?? ''))) }),
      );
      const filePart = fc.record({
        name: fc.oneof({ weight: 4, arbitrary: fc.constant('image') }, { weight: 1, arbitrary: fc.constantFrom('images', 'file', ...POLLUTION_KEYS) }),
        filename: fc.oneof(fc.constant('chelsea.png'), headerText, fc.constant('../../etc/passwd')),
        contentType: fc.option(fc.oneof(fc.constantFrom('image/png', 'application/octet-stream', 'text/plain'), headerText)),
        value: fc.oneof({ weight: 3, arbitrary: fc.constant('the small PNG') }, { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) }),
      });
      return fc.record({
        path: fc.constant(service.http.path),
        parts: fc.array(fc.oneof(textPart, filePart), { maxLength: 6 }),
        boundary: fc.oneof(fc.constant('fuzz-boundary'), fc.stringMatching(/^[A-Za-z0-9'()+_,./:=?-]{1,70}$/)),
        announced: fc.constantFrom('same', 'same', 'same', 'quoted', 'other', 'none'),
        damage: fc.constantFrom('none', 'none', 'none', 'truncate', 'no-closing', 'lf-only', 'garbage-between'),
        cutAt: fc.nat(),
      });
    });
    await fuzzCases(
      specs,
      ({ path, parts, boundary, announced, damage, cutAt }) => {
        const CRLF = '\r\n';
        const chunks: Buffer[] = [];
        for (const part of parts) {
          const file = 'filename' in part ? part : undefined;
          const disposition = `form-data; name="${part.name}"${file ? `; filename="${file.filename}"` : ''}`;
          const type = file?.contentType ? `Content-Type: ${file.contentType}${CRLF}` : '';
          const value = file ? (file.value === 'the small PNG' ? png : Buffer.from(file.value)) : Buffer.from(part.value);
          chunks.push(Buffer.from(`--${boundary}${CRLF}Content-Disposition: ${disposition}${CRLF}${type}${CRLF}`), value, Buffer.from(CRLF));
          if (damage === 'garbage-between') chunks.push(Buffer.from('garbage\x00\xff'));
        }
        if (damage !== 'no-closing') chunks.push(Buffer.from(`--${boundary}--${CRLF}`));
        let body = Buffer.concat(chunks);
        if (damage === 'truncate') body = body.subarray(0, cutAt % (body.length + 1));
        if (damage === 'lf-only') body = Buffer.from(body.toString('latin1').replaceAll(CRLF, '\n'), 'latin1');
        const header = { same: `; boundary=${boundary}`, quoted: `; boundary="${boundary}"`, other: '; boundary=not-the-one', none: '' }[announced];
        return { path, query: '', headers: { 'content-type': `multipart/form-data${header}` }, body, asksDeadline: mentionsDeadline(body) };
      },
      SHARE.multipart,
    );
  });

  it('refuses JSON nested over the limit before parsing it, whatever its charset', { timeout: fuzzTestTimeoutMs(SHARE.charsets) }, async () => {
    // The guard scans bytes for quotes and brackets: a body in UTF-16 must not hide its structure
    // from it (U+2200 is the bytes 00 22 there, a quote to the guard). Refusing the charset is fine too.
    const specs = fc.record({
      path: route().map((service) => service.http.path),
      key: fc.string({ unit: fc.constantFrom('a', 'é', '∀', '\u227b', '\u5b5b', 'Ȣ'), minLength: 1, maxLength: 4 }),
      depth: fc.integer({ min: JSON_SHAPE_LIMITS.maxDepth + 1, max: 200 }),
      charset: fc.constantFrom('utf-8', 'utf-16le'),
    });
    const tracked = trackingLastRun(async ({ path, key, depth, charset }: { path: string; key: string; depth: number; charset: string }) => {
      const text = `{${JSON.stringify(key)}:${'['.repeat(depth)}${']'.repeat(depth)}}`;
      const body = Buffer.from(text, charset === 'utf-8' ? 'utf8' : 'utf16le');
      const answer = await send(fuzz.base, { path, query: '', headers: { 'content-type': `application/json; charset=${charset}` }, body, asksDeadline: false });
      const refusedCharset = answer.status === 415 && answer.text.includes('unsupported_media_type');
      const refusedShape = answer.status === 400 && answer.text.includes('nests deeper than');
      assert.ok(refusedCharset || refusedShape, `a body nested ${depth} deep, in ${charset}, passed the JSON guard: ${answer.status} ${answer.text}`);
    });
    await fc.assert(fc.asyncProperty(specs, tracked.predicate), fuzzParameters(SHARE.charsets));
    await tracked.lastRun();
  });

  it('still classifies the small image after the fuzzing', async () => {
    const response = await fetch(`${fuzz.base}/v1/classify`, {
      method: 'POST',
      headers: { 'content-type': 'image/png' },
      body: new Uint8Array(png),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    assert.equal(response.status, 200, await response.clone().text());
    assert.ok(((await response.json()) as { predictions: unknown[] }).predictions.length > 0);
  });
});
