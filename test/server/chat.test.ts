/**
 * POST /v1/chat/completions on the generated SmolVLM-shaped model, through the real server:
 * the OpenAI answer and stream shapes, streamed chunks that add up to the unstreamed answer,
 * the openai npm client in both modes, concurrent conversations batched into shared decode
 * steps with the answers they get alone, the image-feature cache on a second turn, a client
 * that leaves mid-stream freeing its sequence, bad conversations answered 400 in OpenAI's
 * error shape, and a GroupQueryAttention decoder recognised and decoded one conversation per batch.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import OpenAI from 'openai';
import request from 'supertest';
import { buildSmolVlmDecoderGraph, SMOLVLM_TINY } from '../../src/models/generator/index.js';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinySmolVlmDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const dataUrl = (bytes: Buffer, type = 'image/png') => `data:${type};base64,${bytes.toString('base64')}`;

/** The `data:` payloads of an SSE body, in order. */
function sseData(body: string): string[] {
  return body.split('\n\n').filter((event) => event.startsWith('data: ')).map((event) => event.slice('data: '.length));
}

describe('visual chat (OpenAI chat completions)', () => {
  let server: RunningServer;
  let chelsea: Buffer;
  let rocket: Buffer;
  let base: string;

  const ask = (text: string, image?: Buffer) => ({
    role: 'user',
    content: [...(image ? [{ type: 'image_url', image_url: { url: dataUrl(image) } }] : []), { type: 'text', text }],
  });
  const metric = async (series: string): Promise<number> => {
    const text = (await request(server.http).get('/metrics').expect(200)).text;
    const line = text.split('\n').find((l) => l.startsWith(series));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const decodeState = async () => {
    const models = await request(server.http).get('/v1/models').expect(200);
    return models.body.data.find((m: { id: string }) => m.id === 'chat').decode as { active_rows: number; cache_bytes: number; recent_rows_per_step: number };
  };

  before(async () => {
    server = await startTestServer(['--model-dir', `chat=${await tinySmolVlmDir()}`]);
    base = `http://127.0.0.1:${server.httpPort}`;
    chelsea = await readFile(sharedImage('chelsea.png'));
    rocket = await readFile(sharedImage('rocket.jpg'));
  });
  after(() => server?.close());

  it('answers a chat.completion with usage and finish_reason, and lists the model as image-text-to-text', async () => {
    const res = await request(server.http).post('/v1/chat/completions').send({ messages: [ask('What is in this picture?', chelsea)], max_tokens: 8 }).expect(200);
    const body = res.body;
    assert.match(body.id, /^chatcmpl-/);
    assert.equal(body.object, 'chat.completion');
    assert.equal(body.model, 'chat');
    assert.equal(body.choices.length, 1);
    assert.equal(body.choices[0].message.role, 'assistant');
    assert.equal(typeof body.choices[0].message.content, 'string');
    assert.ok(body.usage.completion_tokens >= 1 && body.usage.completion_tokens <= 8);
    assert.equal(body.choices[0].finish_reason, body.usage.completion_tokens === 8 ? 'length' : 'stop');
    // The prompt holds the template's text and the image's view of tokens.
    const models = await request(server.http).get('/v1/models').expect(200);
    const listed = models.body.data.find((m: { id: string }) => m.id === 'chat');
    assert.equal(listed.task, 'image-text-to-text');
    assert.equal(listed.object, 'model');
    assert.ok(body.usage.prompt_tokens > listed.image_tokens_per_view, 'the image counts in the prompt');
    assert.equal(body.usage.total_tokens, body.usage.prompt_tokens + body.usage.completion_tokens);
    assert.equal(listed.decode_batching, 'continuous');
  });

  it('streams chat.completion.chunk events that add up to the unstreamed answer (same seed), then [DONE]', async () => {
    const conversation = { messages: [ask('Describe it.', rocket)], max_tokens: 12, temperature: 0.9, seed: 11 };
    const whole = await request(server.http).post('/v1/chat/completions').send(conversation).expect(200);
    const streamed = await request(server.http).post('/v1/chat/completions').send({ ...conversation, stream: true, stream_options: { include_usage: true } }).buffer(true).parse((res, done) => {
      let text = '';
      res.on('data', (chunk: Buffer) => (text += chunk.toString()));
      res.on('end', () => done(null, text));
    }).expect(200);
    assert.match(streamed.headers['content-type'] ?? '', /^text\/event-stream/);
    const data = sseData(streamed.body as string);
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
    assert.deepEqual(chunks[0].choices[0].delta, { role: 'assistant', content: '' });
    const usage = chunks.at(-1);
    assert.deepEqual(usage.choices, [], 'the usage chunk has no choices');
    assert.deepEqual(usage.usage, whole.body.usage);
    const finish = chunks.at(-2);
    assert.equal(finish.choices[0].finish_reason, whole.body.choices[0].finish_reason);
    const text = chunks.slice(1, -2).map((c) => c.choices[0].delta.content).join('');
    assert.equal(text, whole.body.choices[0].message.content);
  });

  it('ends a stream that passed its deadline with an error event, and no [DONE]', async () => {
    const res = await request(server.http)
      .post('/v1/chat/completions')
      .send({ messages: [ask('Go on.', chelsea)], max_tokens: 5000, min_tokens: 5000, stream: true, timeout_ms: 500 })
      .buffer(true)
      .parse((response, done) => {
        let text = '';
        response.on('data', (chunk: Buffer) => (text += chunk.toString()));
        response.on('end', () => done(null, text));
      });
    assert.equal(res.status, 200, 'the stream had started');
    const data = sseData(res.body as string);
    assert.ok(data.length > 2 && JSON.parse(data[0]!).object === 'chat.completion.chunk');
    const last = JSON.parse(data.at(-1)!);
    assert.deepEqual([last.error?.code, last.error?.type], ['deadline_exceeded', 'server_error']);
    assert.ok(!data.includes('[DONE]'));
  });

  it('serves the openai npm client (v6): models.list, a completion, and a stream', async () => {
    const client = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'unused' });
    const models = await client.models.list();
    assert.ok(models.data.some((m) => m.id === 'chat'));
    const messages = [ask('Hello, what do you see?', chelsea)] as OpenAI.ChatCompletionMessageParam[];
    const completion = await client.chat.completions.create({ model: 'chat', messages, max_completion_tokens: 6, seed: 1 });
    assert.equal(completion.choices[0]!.message.role, 'assistant');
    const stream = await client.chat.completions.create({ model: 'chat', messages, max_completion_tokens: 6, seed: 1, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    assert.equal(text, completion.choices[0]!.message.content);
    assert.equal(finish, completion.choices[0]!.finish_reason);
    // Errors arrive as the client's APIError, with our message.
    await assert.rejects(client.chat.completions.create({ model: 'chat', messages, n: 2 }), (error: unknown) => error instanceof OpenAI.BadRequestError && /n above 1/.test(error.message));
  });

  it('decodes concurrent conversations in shared steps, joining and leaving mid-flight, each answering as it does alone', async () => {
    const conversations = [
      { messages: [ask('What is this?', chelsea)], max_tokens: 40, min_tokens: 40 },
      { messages: [ask('Tell me everything you can about the colours and shapes in this photo, please.', rocket)], max_tokens: 6 },
      { messages: [{ role: 'system', content: 'You are terse.' }, ask('Hi')], max_tokens: 14 },
    ];
    const alone: { choices: { message: { content: string } }[]; usage: object }[] = [];
    for (const conversation of conversations) alone.push((await request(server.http).post('/v1/chat/completions').send(conversation).expect(200)).body);
    const stepsBefore = await metric('mms_decode_batch_size_count{model="chat"');
    const rowsBefore = await metric('mms_decode_batch_size_sum{model="chat"');
    // The first conversation is decoding (its first chunk arrived) when the others join its batch;
    // they leave it, at different steps, before it ends.
    const first = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ...conversations[0], stream: true }) });
    const reader = first.body!.getReader();
    let streamed = new TextDecoder().decode((await reader.read()).value);
    const others = Promise.all(conversations.slice(1).map((c) => request(server.http).post('/v1/chat/completions').send(c).expect(200)));
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) streamed += new TextDecoder().decode(chunk.value);
    const firstText = sseData(streamed).slice(0, -1).map((d) => JSON.parse(d).choices[0]?.delta?.content ?? '').join('');
    assert.equal(firstText, alone[0]!.choices[0]!.message.content, 'the conversation others joined');
    (await others).forEach((res, i) => {
      assert.equal(res.body.choices[0].message.content, alone[i + 1]!.choices[0]!.message.content, `conversation ${i + 1}`);
      assert.deepEqual(res.body.usage, alone[i + 1]!.usage);
    });
    const steps = (await metric('mms_decode_batch_size_count{model="chat"')) - stepsBefore;
    const rows = (await metric('mms_decode_batch_size_sum{model="chat"')) - rowsBefore;
    assert.ok(rows / steps > 1.2, `rows shared decode steps (${rows} rows in ${steps} calls)`);
  });

  it('takes a second turn\'s re-sent image from the feature cache', async () => {
    const first = await request(server.http).post('/v1/chat/completions').send({ messages: [ask('What animal is this?', chelsea)], max_tokens: 4 }).expect(200);
    const hitsBefore = await metric('mms_embedding_cache_requests_total{model="chat",variant="fp32",result="hit"}');
    const second = await request(server.http)
      .post('/v1/chat/completions')
      .send({ messages: [ask('What animal is this?', chelsea), { role: 'assistant', content: first.body.choices[0].message.content }, ask('And its colour?')], max_tokens: 4 })
      .expect(200);
    assert.equal(second.body.cached_images, 1);
    assert.equal((await metric('mms_embedding_cache_requests_total{model="chat",variant="fp32",result="hit"}')) - hitsBefore, 1);
    assert.ok(second.body.usage.prompt_tokens > first.body.usage.prompt_tokens);
  });

  it('stops a stream whose client left, and frees its row and cache', async () => {
    const controller = new AbortController();
    const res = await fetch(`${base}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ messages: [ask('Go on and on.', chelsea)], max_tokens: 2000, stream: true }),
      signal: controller.signal,
    });
    const reader = res.body!.getReader();
    await reader.read(); // the first chunk: the sequence is decoding
    assert.equal((await decodeState()).active_rows, 1);
    controller.abort();
    const deadline = Date.now() + 10_000;
    let state = await decodeState();
    while ((state.active_rows > 0 || state.cache_bytes > 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      state = await decodeState();
    }
    assert.deepEqual([state.active_rows, state.cache_bytes], [0, 0]);
  });

  it('streams over gRPC (Chat): the same chunks as HTTP, then the whole completion; errors as a status', async () => {
    type Event = { delta?: { choices: { delta?: { role?: string; content?: string }; finish_reason?: string }[] }; done?: { choices: { message: { content: string }; finish_reason: string }[]; usage: object } };
    const client = inferenceClient(server.grpcPort);
    const collect = (message: object) =>
      new Promise<{ events: Event[]; error?: grpc.ServiceError }>((resolve) => {
        const events: Event[] = [];
        const call = client.Chat!(message) as grpc.ClientReadableStream<Event>;
        call.on('data', (event) => events.push(event));
        call.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
        call.on('end', () => resolve({ events }));
      });
    try {
      const parts = [{ type: 'image', image: chelsea }, { type: 'text', text: 'What is in this picture?' }];
      const { events, error } = await collect({ messages: [{ role: 'user', parts }], max_tokens: 8, seed: 3, temperature: 0.7 });
      assert.equal(error, undefined);
      const done = events.at(-1)!.done!;
      const chunks = events.slice(0, -1).map((e) => e.delta!);
      assert.equal(chunks[0]!.choices[0]!.delta?.role, 'assistant');
      assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? '').join(''), done.choices[0]!.message.content);
      assert.equal(chunks.at(-1)!.choices[0]!.finish_reason, done.choices[0]!.finish_reason);
      const http = await request(server.http).post('/v1/chat/completions').send({ messages: [ask('What is in this picture?', chelsea)], max_tokens: 8, seed: 3, temperature: 0.7 }).expect(200);
      assert.equal(done.choices[0]!.message.content, http.body.choices[0].message.content, 'the same conversation, the same answer on both transports');
      assert.deepEqual(done.usage, http.body.usage);
      const bad = await collect({ messages: [{ role: 'system', content: 'Hello' }] });
      assert.equal(bad.error?.code, grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });

  it('refuses bad conversations with 400 in the OpenAI error shape', async () => {
    const cases: [string, object, RegExp][] = [
      ['no user turn', { messages: [{ role: 'system', content: 'Be nice.' }] }, /no user message/],
      ['an unsupported part', { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] }, /messages\.0\.content/],
      ['an http image URL', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://example.com/cat.jpg' } }] }] }, /not fetched/],
      ['a bad data URL', { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,%%%' } }] }] }, /base64/],
      ['an image that is not one', { messages: [ask('What?', Buffer.from('not an image at all'))] }, /image/],
      ['tools', { messages: [ask('Hi')], tools: [{ type: 'function', function: { name: 'f' } }] }, /'tools' is not supported/],
      ['n = 2', { messages: [ask('Hi')], n: 2 }, /n above 1/],
      ['max_tokens past the context', { messages: [ask('Hi')], max_tokens: 30_000 }, /room for/],
      ['an image in an assistant turn', { messages: [ask('Hi'), { role: 'assistant', content: [{ type: 'image_url', image_url: { url: dataUrl(chelsea) } }] }] }, /only user messages/],
    ];
    for (const [name, body, message] of cases) {
      const res = await request(server.http).post('/v1/chat/completions').send(body);
      assert.equal(res.status, 400, `${name}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error.type, 'invalid_request_error', name);
      assert.match(res.body.error.message, message, name);
    }
    // Still answering.
    await request(server.http).post('/v1/chat/completions').send({ messages: [ask('Hi')], max_tokens: 2 }).expect(200);
  });
});

describe('visual chat on a decoder with GroupQueryAttention', () => {
  let server: RunningServer;
  let work: string;

  before(async () => {
    // The tiny model with its decoder in the GroupQueryAttention form (rows' caches must start at 0).
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-chat-gqa-'));
    await cp(await tinySmolVlmDir(), work, { recursive: true });
    await buildSmolVlmDecoderGraph(SMOLVLM_TINY, { groupQueryAttentionOp: true }).save(path.join(work, 'onnx', 'decoder_model_merged.onnx'));
    server = await startTestServer(['--model-dir', `gqa=${work}`]);
  });
  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('detects it, decodes one conversation at a time (the others queue), and answers as it does alone', async () => {
    const models = await request(server.http).get('/v1/models').expect(200);
    assert.match(models.body.data[0].decode_batching, /one conversation at a time \(GroupQueryAttention/);
    const conversations = ['Hi', 'Tell me a long story about the sea, please.', 'What?'].map((text, i) => ({ messages: [{ role: 'user', content: text }], max_tokens: 6 + 3 * i }));
    const alone: string[] = [];
    for (const conversation of conversations) alone.push((await request(server.http).post('/v1/chat/completions').send(conversation).expect(200)).body.choices[0].message.content);
    // Sent together: left padding and concurrent runs of the kernel would both change tokens.
    const together = await Promise.all(conversations.map((c) => request(server.http).post('/v1/chat/completions').send(c).expect(200)));
    assert.deepEqual(together.map((res) => res.body.choices[0].message.content), alone);
  });
});

describe('visual chat image limits', () => {
  let server: RunningServer;
  before(async () => {
    server = await startTestServer(['--model-dir', `chat=${await tinySmolVlmDir()}`], { limits: { imageBytes: 50_000 } });
  });
  after(() => server?.close());

  it('refuses an image over the byte limit in the OpenAI error shape', async () => {
    const big = await readFile(sharedImage('chelsea.png'));
    const res = await request(server.http)
      .post('/v1/chat/completions')
      .send({ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${big.toString('base64')}` } }, { type: 'text', text: 'Hi' }] }] });
    assert.equal(res.status, 413, JSON.stringify(res.body));
    assert.deepEqual([res.body.error.code, res.body.error.type], ['payload_too_large', 'invalid_request_error']);
    assert.match(res.body.error.message, /50000-byte limit/);
  });
});
