/**
 * Requests that are wrong in every way but the image: malformed JSON and multipart, wrong types,
 * huge lists, over-long prompts and templates, deep nesting, prototype-pollution keys, over-long
 * URLs and headers, chat abuse (thousands of messages, many large images, stop lists, token
 * extremes), and over gRPC garbage frames and out-of-range messages. Each names the error
 * table's code a client must get (or `ok` where the server should simply answer).
 */
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import type { ErrorCode } from '../../src/errors.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { postJson, postJsonText, type GrpcCallSpec, type HttpRequestSpec } from './outcome.js';

type Expectation = 'ok' | ErrorCode;

export interface HttpCase {
  readonly endpoint: string;
  readonly name: string;
  readonly expect: Expectation;
  readonly request: HttpRequestSpec;
}

export interface GrpcCase {
  readonly endpoint: string;
  readonly name: string;
  readonly expect: Expectation;
  readonly call: GrpcCallSpec;
}

/** A gRPC call written by hand over HTTP/2, its frames broken (outcome.ts `sendGrpcFrames`). */
export interface GrpcFramesCase {
  readonly endpoint: string;
  readonly name: string;
  readonly expect: Expectation;
  readonly method: string;
  readonly body: Buffer;
}

/** gRPC's 5-byte prefix (compressed flag, big-endian length) before `message`. */
const framed = (message: Buffer, compressed = 0, length = message.length) => {
  const prefix = Buffer.alloc(5);
  prefix[0] = compressed;
  prefix.writeUInt32BE(length, 1);
  return Buffer.concat([prefix, message]);
};

/** Calls no gRPC library would send: the frames themselves are wrong. */
function grpcFramesCases(): GrpcFramesCase[] {
  const listModels = Buffer.alloc(0);
  const cases: Array<[string, string, Buffer]> = [
    ['no message at all', 'Classify', Buffer.alloc(0)],
    ['half a length prefix', 'Classify', Buffer.from([0, 0])],
    ['a length prefix past the body', 'Classify', framed(Buffer.from([1, 2, 3]), 0, 100)],
    ['two messages on a unary call', 'ListModels', Buffer.concat([framed(listModels), framed(listModels)])],
    ['two messages on a streaming call', 'CaptionStream', Buffer.concat([framed(listModels), framed(listModels)])],
    ['a message flagged compressed with no encoding', 'ZeroShot', framed(Buffer.from([8, 1]), 1)],
  ];
  return cases.map(([name, method, body]) => ({ endpoint: 'protocol', name: `${method}: ${name}`, expect: 'invalid_request', method, body }));
}


function multipartText(path: string, boundary: string, text: string): HttpRequestSpec {
  return { method: 'POST', path, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: text };
}

function form(path: string, parts: Array<[string, string | Blob]>): HttpRequestSpec {
  const body = new FormData();
  for (const [name, value] of parts) body.append(name, value);
  return { method: 'POST', path, body };
}

/** The POST endpoints, the corpus name each goes by, and a valid JSON request to spoil. */
interface Endpoint {
  readonly name: string;
  readonly path: string;
  readonly valid: Record<string, unknown>;
  /** Takes multipart bodies (chat and embeddings are JSON only). */
  readonly multipart: boolean;
}

function endpoints(image: string): Endpoint[] {
  const dataUrl = `data:image/png;base64,${image}`;
  return [
    { name: 'classify', path: '/v1/classify', valid: { image, model: 'vit' }, multipart: true },
    { name: 'zero-shot', path: '/v1/zero-shot', valid: { image, labels: ['cat', 'dog'], model: 'clip' }, multipart: true },
    {
      name: 'alignment fit',
      path: '/v1/zero-shot/alignments',
      valid: { name: 'corpus-requests', model: 'clip', examples: [{ image, label: 'cat' }, { image, label: 'dog' }] },
      multipart: true,
    },
    { name: 'embeddings', path: '/v1/embeddings', valid: { input: ['a cat', dataUrl], model: 'clip' }, multipart: false },
    { name: 'attention', path: '/v1/attention', valid: { image, format: 'json', model: 'vit' }, multipart: true },
    { name: 'localize', path: '/v1/zero-shot/localize', valid: { image, labels: ['cat'], format: 'json', model: 'clip' }, multipart: true },
    { name: 'caption', path: '/v1/caption', valid: { image, max_new_tokens: 2, model: 'captioner' }, multipart: true },
    {
      name: 'chat',
      path: '/v1/chat/completions',
      valid: { model: 'chat', max_tokens: 2, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl } }, { type: 'text', text: 'What is it?' }] }] },
      multipart: false,
    },
  ];
}

/** Cases every POST endpoint gets: the body itself is wrong. */
function bodyCases(endpoint: Endpoint): HttpCase[] {
  const { path, valid } = endpoint;
  const cases: Array<[string, Expectation, HttpRequestSpec]> = [
    ['valid request', 'ok', postJson(path, valid)],
    ['JSON cut off', 'invalid_request', postJsonText(path, JSON.stringify(valid).slice(0, 40))],
    ['JSON array', 'invalid_request', postJson(path, [valid])],
    ['JSON null', 'invalid_request', postJsonText(path, 'null')],
    ['JSON string', 'invalid_request', postJson(path, 'image')],
    ['JSON with a trailing comma', 'invalid_request', postJsonText(path, JSON.stringify(valid).replace(/}$/, ',}'))],
    ['JSON nested 100,000 deep', 'invalid_request', postJsonText(path, `{"a":${'['.repeat(100_000)}${']'.repeat(100_000)}}`)],
    ['JSON with 200,000 keys', 'invalid_request', postJsonText(path, `{${Array.from({ length: 200_000 }, (_, i) => `"k${i}":0`).join(',')}}`)],
    ['JSON in UTF-16 (hides its nesting from a UTF-8 scan)', 'unsupported_media_type', { method: 'POST', path, headers: { 'content-type': 'application/json; charset=utf-16le' }, body: new Uint8Array(Buffer.from(`{"∀":${'['.repeat(40)}${']'.repeat(40)}}`, 'utf16le')) }],
    ['JSON not UTF-8', 'invalid_request', postJsonText(path, Uint8Array.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]))],
    ['JSON over the 32 MiB body limit', 'payload_too_large', postJsonText(path, `{"pad":"${'x'.repeat(33 * 1024 * 1024)}"}`)],
    ['__proto__ key', 'invalid_request', postJsonText(path, JSON.stringify(valid).replace(/^{/, '{"__proto__":{"polluted":true},'))],
    ['constructor.prototype keys', 'invalid_request', postJsonText(path, JSON.stringify(valid).replace(/^{/, '{"constructor":{"prototype":{"polluted":true}},'))],
    ['model of the wrong type', 'invalid_request', postJson(path, { ...valid, model: ['vit'] })],
    ['unknown model', 'model_not_found', postJson(path, { ...valid, model: 'no-such-model' })],
    ['model id of 10,000 characters', 'invalid_request', postJson(path, { ...valid, model: 'm'.repeat(10_000) })],
    ['timeout_ms negative', 'invalid_request', postJson(path, { ...valid, timeout_ms: -5 })],
    ['Content-Type text/plain', 'unsupported_media_type', { method: 'POST', path, headers: { 'content-type': 'text/plain' }, body: JSON.stringify(valid) }],
    ['Content-Type that lies (gzip, not gzipped)', 'invalid_request', { method: 'POST', path, headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' }, body: JSON.stringify(valid) }],
    ['empty body', 'invalid_request', { method: 'POST', path, headers: { 'content-type': 'application/json' } }],
  ];
  if (endpoint.multipart) {
    cases.push(
      ['multipart without a boundary', 'invalid_request', { method: 'POST', path, headers: { 'content-type': 'multipart/form-data' }, body: '--x\r\n\r\n--x--\r\n' }],
      ['multipart with the wrong boundary', 'invalid_request', multipartText(path, 'expected', '--other\r\nContent-Disposition: form-data; name="model"\r\n\r\nvit\r\n--other--\r\n')],
      ['multipart cut off inside a part', 'invalid_request', multipartText(path, 'b', '--b\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n\x89PNG')],
      ['multipart part without Content-Disposition', 'invalid_request', multipartText(path, 'b', '--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b--\r\n')],
      ['multipart with 20,000 fields', 'payload_too_large', multipartText(path, 'b', `${Array.from({ length: 20_000 }, (_, i) => `--b\r\nContent-Disposition: form-data; name="f${i}"\r\n\r\n1\r\n`).join('')}--b--\r\n`)],
      ['multipart field of 4 MB', 'payload_too_large', form(path, [['model', 'v'.repeat(4 * 1024 * 1024)]])],
      ['multipart file under an unknown name', 'invalid_request', form(path, [['picture', new Blob([Buffer.from(valid.image as string ?? '', 'base64')], { type: 'image/png' })]])],
    );
  } else {
    cases.push(['multipart where only JSON is taken', 'unsupported_media_type', form(path, [['model', 'clip']])]);
  }
  return cases.map(([name, expect, request]) => ({ endpoint: endpoint.name, name, expect, request }));
}

/** Each endpoint's own fields, out of range or of the wrong type. */
function fieldCases(byName: Map<string, Endpoint>, image: string): HttpCase[] {
  const spoil = (name: string, caseName: string, expect: Expectation, changes: Record<string, unknown>): HttpCase => {
    const endpoint = byName.get(name)!;
    return { endpoint: name, name: caseName, expect, request: postJson(endpoint.path, { ...endpoint.valid, ...changes }) };
  };
  const dataUrl = `data:image/png;base64,${image}`;
  const userImage = { type: 'image_url', image_url: { url: dataUrl } };
  return [
    spoil('classify', 'image of the wrong type', 'invalid_request', { image: 42 }),
    spoil('classify', 'image not base64', 'invalid_image', { image: '%%% not base64 %%%' }),
    spoil('classify', 'top_k 0', 'invalid_request', { top_k: 0 }),
    spoil('classify', 'top_k 10^12', 'invalid_request', { top_k: 1e12 }),
    spoil('classify', 'top_k as text', 'invalid_request', { top_k: 'five' }),
    spoil('zero-shot', '100,000 labels', 'invalid_request', { labels: Array.from({ length: 100_000 }, (_, i) => `label ${i}`) }),
    spoil('zero-shot', 'a label of 100,000 characters', 'invalid_request', { labels: ['l'.repeat(100_000)] }),
    spoil('zero-shot', 'no labels', 'invalid_request', { labels: [] }),
    spoil('zero-shot', 'labels as an object', 'invalid_request', { labels: { cat: 1 } }),
    spoil('zero-shot', 'template of 100,000 characters', 'invalid_request', { strategy: 'template', template: `${'t'.repeat(100_000)} {label}` }),
    spoil('zero-shot', 'template without {label}', 'invalid_request', { strategy: 'template', template: 'a photo' }),
    spoil('zero-shot', '1,000 templates', 'invalid_request', { strategy: 'ensemble', templates: Array.from({ length: 1000 }, (_, i) => `${i} {label}`) }),
    spoil('zero-shot', 'labels × templates over max_prompts', 'invalid_request', { strategy: 'ensemble', labels: Array.from({ length: 1000 }, (_, i) => `l${i}`), templates: Array.from({ length: 64 }, (_, i) => `${i} {label}`) }),
    spoil('zero-shot', 'descriptions nested', 'invalid_request', { strategy: 'descriptive', descriptions: { cat: [['deep']] } }),
    spoil('zero-shot', 'unknown strategy', 'invalid_request', { strategy: 'guess' }),
    spoil('zero-shot', '17 images', 'invalid_request', { image: undefined, images: Array.from({ length: 17 }, () => image) }),
    spoil('zero-shot', 'unknown alignment', 'alignment_not_found', { alignment: 'no-such-alignment' }),
    spoil('alignment fit', 'name with a path', 'invalid_request', { name: '../../etc/passwd' }),
    spoil('alignment fit', 'images that is not a list', 'invalid_request', { examples: undefined, images: null }),
    spoil('alignment fit', 'one example', 'invalid_request', { examples: [{ image, label: 'cat' }] }),
    spoil('alignment fit', 'embedding of the wrong size', 'invalid_request', { examples: [{ embedding: [1, 2, 3], label: 'cat' }, { embedding: [3, 2, 1], label: 'dog' }] }),
    spoil('alignment fit', 'holdout 0.9', 'invalid_request', { holdout: 0.9 }),
    spoil('alignment fit', 'example with image and embedding', 'invalid_request', { examples: [{ image, embedding: [1], label: 'cat' }, { image, label: 'dog' }] }),
    spoil('embeddings', 'no input', 'invalid_request', { input: [] }),
    spoil('embeddings', 'token ids (OpenAI allows; not served)', 'invalid_request', { input: [[1, 2, 3]] }),
    spoil('embeddings', '3,000 inputs', 'invalid_request', { input: Array.from({ length: 3000 }, (_, i) => `t${i}`) }),
    spoil('embeddings', 'a text of 1,000,000 characters', 'ok', { input: ['w '.repeat(500_000)] }),
    spoil('embeddings', '17 images', 'invalid_request', { input: Array.from({ length: 17 }, () => dataUrl) }),
    spoil('embeddings', 'encoding_format hex', 'invalid_request', { encoding_format: 'hex' }),
    spoil('attention', 'unknown method', 'invalid_request', { method: 'guess' }),
    spoil('attention', 'layer 999', 'invalid_request', { layer: 999 }),
    spoil('attention', 'head 4,000', 'invalid_request', { heads: 4000 }),
    spoil('attention', 'alpha 2', 'invalid_request', { alpha: 2 }),
    spoil('attention', 'unknown colormap', 'invalid_request', { colormap: 'rainbow' }),
    spoil('localize', 'labels with control characters and a lone surrogate (drawn in the PNG)', 'ok', { labels: ['a\u0003b', 'c\ud800d', '<&>'], format: 'png' }),
    spoil('localize', '65 labels', 'invalid_request', { labels: Array.from({ length: 65 }, (_, i) => `l${i}`) }),
    spoil('caption', 'max_new_tokens 0', 'invalid_request', { max_new_tokens: 0 }),
    spoil('caption', 'max_new_tokens 10^9', 'invalid_request', { max_new_tokens: 1e9 }),
    spoil('caption', 'max_new_tokens 1.5', 'invalid_request', { max_new_tokens: 1.5 }),
    spoil('caption', '9 stop strings', 'invalid_request', { stop: Array.from({ length: 9 }, (_, i) => `s${i}`) }),
    spoil('caption', 'a stop string of 10,000 characters', 'invalid_request', { stop: ['s'.repeat(10_000)] }),
    spoil('caption', 'prompt on a model without a mask', 'invalid_request', { prompt: 'a photo of' }),
    spoil('caption', 'prompt of 100,000 characters', 'invalid_request', { prompt: 'p'.repeat(100_000) }),
    spoil('caption', '17 images', 'invalid_request', { image: undefined, images: Array.from({ length: 17 }, () => image) }),
    spoil('caption', '9 beams', 'invalid_request', { num_beams: 9 }),
    spoil('caption', 'beams with sampling', 'invalid_request', { num_beams: 2, temperature: 1 }),
    spoil('caption', 'temperature −1', 'invalid_request', { temperature: -1 }),
    spoil('chat', 'no messages', 'invalid_request', { messages: [] }),
    spoil('chat', '5,000 messages', 'invalid_request', { messages: Array.from({ length: 5000 }, () => ({ role: 'user', content: 'hi' })) }),
    spoil('chat', '17 images in one conversation', 'invalid_request', { messages: Array.from({ length: 17 }, () => ({ role: 'user', content: [userImage] })) }),
    spoil('chat', 'large images in many turns (over the body limit)', 'payload_too_large', {
      messages: Array.from({ length: 12 }, () => ({ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(3 * 1024 * 1024)}` } }] })),
    }),
    spoil('chat', 'a prompt longer than the context', 'invalid_request', { messages: [{ role: 'user', content: 'word '.repeat(100_000) }] }),
    spoil('chat', 'a text part over 1,000,000 characters', 'invalid_request', { messages: [{ role: 'user', content: [{ type: 'text', text: 'x'.repeat(1_000_001) }] }] }),
    spoil('chat', '9 stop strings', 'invalid_request', { stop: Array.from({ length: 9 }, (_, i) => `s${i}`) }),
    spoil('chat', 'max_tokens 0', 'invalid_request', { max_tokens: 0 }),
    spoil('chat', 'max_tokens −1', 'invalid_request', { max_tokens: -1 }),
    spoil('chat', 'max_tokens 2^53', 'invalid_request', { max_tokens: 2 ** 53 }),
    spoil('chat', 'max_tokens past the context', 'invalid_request', { max_tokens: 32_768 }),
    spoil('chat', 'temperature 3', 'invalid_request', { temperature: 3 }),
    spoil('chat', 'n 2', 'invalid_request', { n: 2 }),
    spoil('chat', 'tools', 'invalid_request', { tools: [{ type: 'function', function: { name: 'f' } }] }),
    spoil('chat', 'role tool', 'invalid_request', { messages: [{ role: 'tool', content: 'x' }] }),
    spoil('chat', 'content null', 'invalid_request', { messages: [{ role: 'user', content: null }] }),
    spoil('chat', 'image URL to a metadata address (never fetched)', 'invalid_request', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/latest/meta-data/' } }] }] }),
    spoil('chat', 'image URL with file:', 'invalid_request', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'file:///etc/passwd' } }] }] }),
    spoil('chat', 'stream of the wrong type', 'invalid_request', { stream: 'yes' }),
    spoil('chat', 'streamed, then valid', 'ok', { stream: true }),
  ];
}

/** Transport-level abuse: paths, methods, URL and header sizes. */
function protocolCases(): HttpCase[] {
  const cases: Array<[string, Expectation, HttpRequestSpec]> = [
    ['unknown path', 'not_found', { method: 'POST', path: '/v1/nothing-here' }],
    ['GET on a POST endpoint', 'not_found', { method: 'GET', path: '/v1/classify' }],
    ['URL of 20,000 characters', 'headers_too_large', { method: 'GET', path: `/v1/models?${'q'.repeat(20_000)}` }],
    ['200 headers of 100 bytes', 'headers_too_large', { method: 'GET', path: '/v1/models', headers: Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h${i}`, 'v'.repeat(100)])) }],
    ['POST to /metrics', 'not_found', { method: 'POST', path: '/metrics', headers: { 'content-type': 'application/json' }, body: '{}' }],
    ['/metrics with a 10 KB query', 'ok', { method: 'GET', path: `/metrics?${'m'.repeat(10_000)}` }],
    ['unknown alignment by name', 'alignment_not_found', { method: 'GET', path: '/v1/zero-shot/alignments/no-such-alignment' }],
    ['alignment name with an encoded path', 'alignment_not_found', { method: 'GET', path: '/v1/zero-shot/alignments/..%2F..%2Fetc%2Fpasswd' }],
    ['DELETE of an unknown alignment', 'alignment_not_found', { method: 'DELETE', path: '/v1/zero-shot/alignments/no-such-alignment' }],
  ];
  return cases.map(([name, expect, request]) => ({ endpoint: 'protocol', name, expect, request }));
}

/**
 * Bytes that are no protobuf message of any type. (protobufjs reads some other garbage, such as a
 * string whose length runs past the end, as a message: those are then validated like any other.)
 */
const GARBAGE_MESSAGES: Array<[string, Buffer]> = [
  ['random bytes', Buffer.from('a4f1c2e90b7d3355aa0102ff', 'hex')],
  ['a varint cut off', Buffer.from([0x10, 0xff, 0xff])],
];

const GRPC_METHODS: Array<[string, string, boolean]> = [
  ['classify', 'Classify', false],
  ['zero-shot', 'ZeroShot', false],
  ['alignment fit', 'FitAlignment', false],
  ['embeddings', 'Embed', false],
  ['attention', 'Explain', false],
  ['localize', 'Localize', false],
  ['caption', 'Caption', false],
  ['caption', 'CaptionStream', true],
  ['chat', 'Chat', true],
  ['protocol', 'ListModels', false],
  ['protocol', 'ListAlignments', false],
  ['protocol', 'DeleteAlignment', false],
];

function grpcCases(png: Buffer): GrpcCase[] {
  const cases: GrpcCase[] = [];
  for (const [endpoint, method, streaming] of GRPC_METHODS) {
    for (const [name, raw] of GARBAGE_MESSAGES) cases.push({ endpoint, name: `${method}: ${name}`, expect: 'invalid_request', call: { method, raw, streaming } });
  }
  const message = (endpoint: string, name: string, expect: Expectation, method: string, body: unknown, streaming = false): GrpcCase => ({ endpoint, name, expect, call: { method, message: body, streaming } });
  const userImage = { role: 'user', parts: [{ type: 'image', image: png }, { type: 'text', text: 'What is it?' }] };
  cases.push(
    message('classify', 'no image', 'invalid_image', 'Classify', { model: 'vit' }),
    message('classify', 'unknown model', 'model_not_found', 'Classify', { image: png, model: 'no-such-model' }),
    message('classify', 'top_k 4,294,967,295', 'invalid_request', 'Classify', { image: png, top_k: 4_294_967_295 }),
    message('zero-shot', 'no labels', 'invalid_request', 'ZeroShot', { image: png, model: 'clip' }),
    message('zero-shot', '100,000 labels', 'invalid_request', 'ZeroShot', { image: png, model: 'clip', labels: Array.from({ length: 100_000 }, (_, i) => `l${i}`) }),
    message('zero-shot', 'a message over the size limit', 'payload_too_large', 'ZeroShot', { image: Buffer.alloc(40 * 1024 * 1024), model: 'clip', labels: ['cat'] }),
    message('alignment fit', 'name with a path', 'invalid_request', 'FitAlignment', { name: '../x', model: 'clip', examples: [{ image: png, label: 'a' }, { image: png, label: 'b' }] }),
    message('embeddings', 'no input', 'invalid_request', 'Embed', { model: 'clip' }),
    message('attention', 'layer −999', 'invalid_request', 'Explain', { image: png, layer: -999, model: 'vit' }),
    message('attention', 'alpha NaN', 'invalid_request', 'Explain', { image: png, alpha: Number.NaN, model: 'vit' }),
    message('localize', 'no labels', 'invalid_request', 'Localize', { image: png, model: 'clip' }),
    message('caption', 'max_new_tokens 4,294,967,295', 'invalid_request', 'Caption', { image: png, max_new_tokens: 4_294_967_295, model: 'captioner' }),
    message('caption', 'temperature infinity', 'invalid_request', 'Caption', { image: png, temperature: Number.POSITIVE_INFINITY, model: 'captioner' }),
    message('caption', '17 images', 'invalid_request', 'CaptionStream', { images: Array.from({ length: 17 }, () => png), model: 'captioner' }, true),
    message('chat', 'no messages', 'invalid_request', 'Chat', { model: 'chat' }, true),
    message('chat', '5,000 messages', 'invalid_request', 'Chat', { model: 'chat', messages: Array.from({ length: 5000 }, () => ({ role: 'user', content: 'hi' })) }, true),
    message('chat', 'max_tokens 4,294,967,295', 'invalid_request', 'Chat', { model: 'chat', max_tokens: 4_294_967_295, messages: [userImage] }, true),
    message('chat', 'a message with both content and parts', 'invalid_request', 'Chat', { model: 'chat', messages: [{ ...userImage, content: 'hi' }] }, true),
    message('chat', 'image URL to a metadata address (never fetched)', 'invalid_request', 'Chat', {
      model: 'chat',
      messages: [{ role: 'user', parts: [{ type: 'image_url', image_url: { url: 'http://169.254.169.254/' } }] }],
    }, true),
    message('chat', 'valid, streamed', 'ok', 'Chat', { model: 'chat', max_tokens: 2, messages: [userImage] }, true),
    message('protocol', 'DeleteAlignment of an unknown name', 'alignment_not_found', 'DeleteAlignment', { name: 'no-such-alignment' }),
  );
  return cases;
}

export async function requestCorpus(): Promise<{ http: HttpCase[]; grpc: GrpcCase[]; grpcFrames: GrpcFramesCase[] }> {
  const png = await sharp(await readFile(sharedImage('chelsea.png'))).resize(48, 48).png().toBuffer();
  const image = png.toString('base64');
  const all = endpoints(image);
  const byName = new Map(all.map((endpoint) => [endpoint.name, endpoint]));
  return { http: [...all.flatMap(bodyCases), ...fieldCases(byName, image), ...protocolCases()], grpc: grpcCases(png), grpcFrames: grpcFramesCases() };
}
