/**
 * POST /v1/caption and gRPC Caption on the generated ViT-GPT2 and BLIP captioners, through the
 * real server: curl-style multipart and JSON, the plain-text answer, decoding options (lengths,
 * seeds, stop strings, BLIP's prompts), and bad input answered 400 / INVALID_ARGUMENT.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyBlipDir, tinyClipDir, tinyVitGpt2Dir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

describe('captioning', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `captioner=${await tinyVitGpt2Dir()}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server?.close());

  it('captions a multipart upload (curl -F image=@…) and lists the model as image-to-text', async () => {
    const res = await request(server.http).post('/v1/caption').attach('image', chelsea, 'chelsea.png').expect(200);
    assert.equal(res.body.model, 'captioner');
    assert.equal(typeof res.body.caption, 'string');
    assert.ok(res.body.caption.length > 0);
    assert.equal(res.body.tokens, 20, 'random weights never say end-of-sequence: the default 20 tokens');
    assert.equal(res.body.finish_reason, 'length');
    assert.equal(res.body.random_weights, true);
    for (const key of ['preprocess_ms', 'encode_ms', 'decode_ms', 'total_ms']) assert.equal(typeof res.body.timing[key], 'number');
    const models = await request(server.http).get('/v1/models').expect(200);
    const listed = models.body.data.find((m: { id: string }) => m.id === 'captioner');
    assert.deepEqual([listed.task, listed.state, listed.family], ['image-to-text', 'ready', 'vision-encoder-decoder']);
    assert.equal(listed.encoder_projections, 'once per caption', 'the decoder\'s cross-attention keys and values were split out at load');
    assert.deepEqual([listed.decode.active_rows, listed.decode.cache_bytes, listed.decode.recent_rows_per_step], [0, 0, 1]);
  });

  it('writes the caption transformers.js\'s image-to-text pipeline writes with the same model folder', async () => {
    const { pipeline, env } = await import('@huggingface/transformers');
    const dir = await tinyVitGpt2Dir();
    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(dir);
    const reference = await pipeline('image-to-text', path.basename(dir), { dtype: 'fp32' });
    const [theirs] = (await reference(sharedImage('chelsea.png'), { max_new_tokens: 8, min_new_tokens: 8 } as never)) as { generated_text: string }[];
    await reference.dispose();
    const ours = await request(server.http).post('/v1/caption').field('max_new_tokens', '8').attach('image', chelsea, 'c.png').expect(200);
    assert.equal(ours.body.caption, theirs!.generated_text, 'an independent implementation, the same greedy tokens');
  });

  it('answers the caption and a newline alone for Accept: text/plain', async () => {
    const json = await request(server.http).post('/v1/caption').field('max_new_tokens', '6').attach('image', chelsea, 'c.png').expect(200);
    const text = await request(server.http).post('/v1/caption').set('Accept', 'text/plain').field('max_new_tokens', '6').attach('image', chelsea, 'c.png').expect(200);
    assert.match(text.headers['content-type'] ?? '', /^text\/plain/);
    assert.equal(text.text, `${json.body.caption}\n`, 'greedy decoding: the same caption both times');
  });

  /** Reads a response body as text (supertest parses only the types it knows). */
  const asText = (res: request.Response, done: (error: Error | null, body: string) => void) => {
    let text = '';
    (res as unknown as NodeJS.ReadableStream).on('data', (chunk: Buffer) => (text += chunk.toString()));
    (res as unknown as NodeJS.ReadableStream).on('end', () => done(null, text));
  };

  /** The server-sent events of a streamed answer: [event name, data] in order. */
  const events = (body: string): [string, { delta?: string; index?: number; caption?: string; error?: { code: string } }][] =>
    body
      .split('\n\n')
      .filter((block) => block.trim() !== '')
      .map((block) => {
        const event = /^event: (.*)$/m.exec(block)?.[1] ?? 'message';
        return [event, JSON.parse(/^data: (.*)$/m.exec(block)![1]!)];
      });

  it('streams the caption as server-sent events (JSON or a form field), ending with the whole answer', async () => {
    const base = { image: chelsea.toString('base64'), max_new_tokens: 12 };
    const whole = (await request(server.http).post('/v1/caption').send(base).expect(200)).body;
    const res = await request(server.http).post('/v1/caption').send({ ...base, stream: true }).buffer(true).parse(asText);
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'] ?? '', /^text\/event-stream/);
    const received = events(res.body as string);
    const deltas = received.filter(([event]) => event === 'message');
    assert.ok(deltas.length > 1, 'the text arrives in pieces');
    assert.ok(deltas.every(([, data]) => data.index === 0));
    const [last, final] = received.at(-1)!;
    assert.equal(last, 'done');
    assert.equal(deltas.map(([, data]) => data.delta).join(''), final.caption);
    assert.equal(final.caption, whole.caption, 'the same caption as the answer without streaming');
    const form = await request(server.http).post('/v1/caption').field('stream', 'true').field('max_new_tokens', '12').attach('image', chelsea, 'c.png').buffer(true).parse(asText);
    assert.equal(events(form.body as string).at(-1)![1].caption, whole.caption);
    // Refused before the stream starts: an ordinary error answer.
    const bad = await request(server.http).post('/v1/caption').send({ ...base, stream: true, max_new_tokens: 0 }).expect(400);
    assert.equal(bad.body.error.code, 'invalid_request');
    // Past the deadline mid-stream: an error event ends it. The deadline must fall after the
    // first token and long before the 1023rd: a loaded machine may not start the stream in time
    // (an ordinary 504), so longer deadlines are tried then.
    let streamedPastDeadline = false;
    for (const timeoutMs of [100, 250, 600, 1500]) {
      const late = await request(server.http).post('/v1/caption').send({ image: base.image, stream: true, max_new_tokens: 1023, min_new_tokens: 1023, timeout_ms: timeoutMs }).buffer(true).parse(asText);
      if (late.status === 504) continue;
      const [lastEvent, lastData] = events(late.body as string).at(-1)!;
      assert.deepEqual([late.status, lastEvent, lastData.error?.code], [200, 'error', 'deadline_exceeded'], `timeout ${timeoutMs} ms`);
      streamedPastDeadline = true;
      break;
    }
    assert.ok(streamedPastDeadline, 'a stream that started, then passed its deadline');
  });

  it('streams over gRPC (CaptionStream): deltas, then the whole answer; errors as a status', async () => {
    const client = inferenceClient(server.grpcPort);
    const collect = (message: object) =>
      new Promise<{ events: { delta?: { index: number; delta: string }; done?: { caption: string } }[]; error?: grpc.ServiceError }>((resolve) => {
        const events: { delta?: { index: number; delta: string }; done?: { caption: string } }[] = [];
        const call = client.CaptionStream!(message) as grpc.ClientReadableStream<(typeof events)[number]>;
        call.on('data', (event) => events.push(event));
        call.on('error', (error: grpc.ServiceError) => resolve({ events, error }));
        call.on('end', () => resolve({ events }));
      });
    try {
      const { events, error } = await collect({ image: chelsea, max_new_tokens: 12 });
      assert.equal(error, undefined);
      const done = events.at(-1)!.done!;
      const deltas = events.slice(0, -1).map((e) => e.delta!);
      assert.ok(deltas.length > 1 && deltas.every((d) => d.index === 0));
      assert.equal(deltas.map((d) => d.delta).join(''), done.caption);
      const unaryAnswer = await unary(client, 'Caption', { image: chelsea, max_new_tokens: 12 });
      assert.equal(done.caption, unaryAnswer.caption);
      const bad = await collect({ image: chelsea, max_new_tokens: 5, min_new_tokens: 9 });
      assert.equal(bad.error?.code, grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });

  it('takes JSON with decoding options: lengths, seeded sampling, stop strings', async () => {
    const image = chelsea.toString('base64');
    const caption = (body: object) => request(server.http).post('/v1/caption').send({ image, ...body }).expect(200).then((r) => r.body);
    const short = await caption({ max_new_tokens: 4 });
    assert.deepEqual([short.tokens, short.finish_reason], [4, 'length']);
    const sampled = await caption({ max_new_tokens: 8, temperature: 1, top_k: 100, seed: 11 });
    assert.equal((await caption({ max_new_tokens: 8, temperature: 1, top_k: 100, seed: 11 })).caption, sampled.caption, 'reproducible with a seed');
    assert.notEqual((await caption({ max_new_tokens: 8, temperature: 1, top_k: 100, seed: 12 })).caption, sampled.caption);
    const greedy = await caption({ max_new_tokens: 12 });
    // A stop string from the middle of the greedy caption ends it there.
    const stop = greedy.caption.slice(Math.floor(greedy.caption.length / 2)).trim().slice(0, 3);
    const stopped = await caption({ max_new_tokens: 12, stop: [stop] });
    assert.equal(stopped.finish_reason, 'stop');
    assert.equal(stopped.caption, greedy.caption.slice(0, greedy.caption.indexOf(stop)));
  });

  it('captions several images in one request, in order, as they are captioned alone', async () => {
    const rocket = await readFile(sharedImage('rocket.jpg'));
    const alone = await Promise.all([chelsea, rocket].map((image) => request(server.http).post('/v1/caption').field('max_new_tokens', '5').attach('image', image, 'i.png').expect(200)));
    const both = await request(server.http).post('/v1/caption').field('max_new_tokens', '5').attach('image', chelsea, 'a.png').attach('image', rocket, 'b.jpg').expect(200);
    assert.deepEqual(both.body.results.map((r: { caption: string }) => r.caption), alone.map((r) => r.body.caption));
    assert.equal(both.body.caption, alone[0]!.body.caption, 'the first caption also at the top level');
    assert.equal(alone[0]!.body.results, undefined, 'one image: no results list');
    const lines = await request(server.http).post('/v1/caption').set('Accept', 'text/plain').send({ images: [chelsea.toString('base64'), rocket.toString('base64')], max_new_tokens: 5 }).expect(200);
    assert.equal(lines.text, alone.map((r) => `${r.body.caption}\n`).join(''));
    const client = inferenceClient(server.grpcPort);
    try {
      const viaGrpc = await unary(client, 'Caption', { images: [chelsea, rocket], max_new_tokens: 5 });
      assert.deepEqual(viaGrpc.results.map((r: { caption: string }) => r.caption), alone.map((r) => r.body.caption));
    } finally {
      client.close();
    }
  });

  it('refuses bad options and bad images with 400', async () => {
    const image = chelsea.toString('base64');
    for (const [body, pattern] of [
      [{ max_new_tokens: 0 }, /max_new_tokens/],
      [{ max_new_tokens: 5, min_new_tokens: 6 }, /min_new_tokens is above max_new_tokens/],
      [{ temperature: -1 }, /temperature/],
      [{ top_p: 0 }, /top_p/],
      [{ stop: Array(9).fill('x') }, /at most 8 stop strings/],
      [{ max_new_tokens: 1024, model: 'captioner' }, /room for 1023/],
      [{ images: [image] }, /give one image as `image`, or several as `images`/],
      [{ prompt: 'a photography of' }, /does not continue a prompt/],
    ] as const) {
      const res = await request(server.http).post('/v1/caption').send({ image, ...body }).expect(400);
      assert.equal(res.body.error.code, 'invalid_request');
      assert.match(res.body.error.message, pattern);
    }
    const broken = await request(server.http).post('/v1/caption').attach('image', Buffer.from('not an image'), 'x.png').expect(400);
    assert.equal(broken.body.error.code, 'invalid_image');
    const noClip = await request(server.http).post('/v1/caption').send({ image, embed: true }).expect(404);
    assert.match(noClip.body.error.message, /no model serves zero-shot-image-classification/);
  });

  const metric = async (line: string): Promise<number> => {
    const text = (await request(server.http).get('/metrics').expect(200)).text;
    const found = text.split('\n').find((l) => l.startsWith(`${line} `));
    return found ? Number(found.slice(line.length + 1)) : 0;
  };
  const at = '{model="captioner",variant="fp32"}';

  it('counts generated tokens, first-token and inter-token latencies and decode batch sizes', async () => {
    const before = await Promise.all(['mms_generated_tokens_total', 'mms_time_to_first_token_seconds_count', 'mms_inter_token_latency_seconds_count', 'mms_decode_batch_size_count'].map((m) => metric(`${m}${at}`)));
    await request(server.http).post('/v1/caption').field('max_new_tokens', '5').attach('image', chelsea, 'c.png').expect(200);
    const after = await Promise.all(['mms_generated_tokens_total', 'mms_time_to_first_token_seconds_count', 'mms_inter_token_latency_seconds_count', 'mms_decode_batch_size_count'].map((m) => metric(`${m}${at}`)));
    assert.deepEqual(after.map((v, i) => v - before[i]!), [5, 1, 4, 5], 'five tokens: one first, four after it, five steps');
    assert.equal(await metric(`mms_active_sequences${at}`), 0);
  });

  it('frees the sequence of a client that goes away mid-caption', async () => {
    const before = await metric(`mms_generated_tokens_total${at}`);
    const controller = new AbortController();
    const url = `http://127.0.0.1:${server.httpPort}/v1/caption`;
    const body = JSON.stringify({ image: chelsea.toString('base64'), max_new_tokens: 1023 });
    const going = fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json' }, signal: controller.signal }).catch((error: Error) => error);
    for (let i = 0; i < 200 && (await metric(`mms_active_sequences${at}`)) === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    controller.abort();
    assert.equal(((await going) as Error).name, 'AbortError');
    let active = 1;
    for (let i = 0; i < 300 && active > 0; i++) {
      active = await metric(`mms_active_sequences${at}`);
      if (active > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(active, 0, 'the decode slot is free again');
    let cacheBytes = 1;
    for (let i = 0; i < 300 && cacheBytes > 0; i++) {
      cacheBytes = await metric(`mms_decode_cache_bytes${at}`);
      if (cacheBytes > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(cacheBytes, 0, 'and its cache in the worker');
    const generated = (await metric(`mms_generated_tokens_total${at}`)) - before;
    assert.ok(generated < 1023, `stopped early: ${generated} tokens of 1023`);
  });

  it('stops at the request\'s deadline with 504, and frees the decode slot', async () => {
    const res = await request(server.http).post('/v1/caption').send({ image: chelsea.toString('base64'), max_new_tokens: 1023, timeout_ms: 150 }).expect(504);
    assert.equal(res.body.error.code, 'deadline_exceeded');
    let active = 1;
    for (let i = 0; i < 300 && active > 0; i++) {
      active = await metric(`mms_active_sequences${at}`);
      if (active > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(active, 0);
  });

  it('serves gRPC Caption with the same answer, and INVALID_ARGUMENT for bad options', async () => {
    const client = inferenceClient(server.grpcPort);
    try {
      const viaGrpc = await unary(client, 'Caption', { image: chelsea, max_new_tokens: 6 });
      const viaHttp = await request(server.http).post('/v1/caption').field('max_new_tokens', '6').attach('image', chelsea, 'c.png').expect(200);
      assert.deepEqual([viaGrpc.model, viaGrpc.caption, viaGrpc.tokens, viaGrpc.finish_reason], ['captioner', viaHttp.body.caption, 6, 'length']);
      const bad = await unary(client, 'Caption', { image: chelsea, max_new_tokens: 5, min_new_tokens: 9 }).then(
        () => undefined,
        (error: grpc.ServiceError) => error,
      );
      assert.equal(bad?.code, grpc.status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });
});

describe('caption, then embed', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `captioner=${await tinyVitGpt2Dir()}`, '--model-dir', `clip=${await tinyClipDir()}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server?.close());

  it('adds each caption\'s CLIP text embedding, the same as /v1/embeddings gives for that text', async () => {
    const answer = (await request(server.http).post('/v1/caption').field('max_new_tokens', '6').field('embed', 'true').attach('image', chelsea, 'c.png').expect(200)).body;
    assert.equal(answer.embedding_model, 'clip');
    const embedded = (await request(server.http).post('/v1/embeddings').send({ input: [answer.caption], model: 'clip' }).expect(200)).body.data[0].embedding as number[];
    assert.equal(answer.embedding.length, embedded.length);
    const dot = answer.embedding.reduce((sum: number, v: number, i: number) => sum + v * embedded[i]!, 0);
    assert.ok(Math.abs(dot - 1) < 1e-5, `the same unit vector (dot ${dot})`);
    await request(server.http).post('/v1/caption').field('embed_model', 'nope').attach('image', chelsea, 'c.png').expect(404);
  });
});

describe('BLIP captioning (continuous batching, prompts)', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `blip=${await tinyBlipDir()}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server?.close());

  it('captions unconditionally and continuing a prompt, on both transports, and lists the model', async () => {
    const plain = (await request(server.http).post('/v1/caption').field('max_new_tokens', '6').field('min_new_tokens', '6').attach('image', chelsea, 'c.png').expect(200)).body;
    assert.deepEqual([plain.model, plain.tokens, plain.finish_reason], ['blip', 6, 'length']);
    const prompted = (await request(server.http).post('/v1/caption').send({ image: chelsea.toString('base64'), prompt: 'A photography of', max_new_tokens: 6, min_new_tokens: 6 }).expect(200)).body;
    assert.match(prompted.caption, /^a photography of \S/, 'the caption continues the (lowercased) prompt');
    assert.notEqual(prompted.caption.slice('a photography of '.length), plain.caption, 'the prompt changes what follows');
    const client = inferenceClient(server.grpcPort);
    try {
      const viaGrpc = await unary(client, 'Caption', { image: chelsea, prompt: 'A photography of', max_new_tokens: 6, min_new_tokens: 6 });
      assert.equal(viaGrpc.caption, prompted.caption);
    } finally {
      client.close();
    }
    const listed = (await request(server.http).get('/v1/models').expect(200)).body.data.find((m: { id: string }) => m.id === 'blip');
    assert.deepEqual([listed.task, listed.family, listed.decode_batching, listed.prompt], ['image-to-text', 'blip', 'continuous', true]);
  });

  it('takes repetition_penalty and no_repeat_ngram_size on both transports', async () => {
    const base = { image: chelsea.toString('base64'), max_new_tokens: 12, min_new_tokens: 12 };
    // What the rules do to the tokens: test/pipelines (masked-scheduler, generation); here, that they arrive.
    const penalised = (await request(server.http).post('/v1/caption').send({ ...base, no_repeat_ngram_size: 1, repetition_penalty: 3 }).expect(200)).body.caption;
    const client = inferenceClient(server.grpcPort);
    try {
      const viaGrpc = await unary(client, 'Caption', { image: chelsea, max_new_tokens: 12, min_new_tokens: 12, no_repeat_ngram_size: 1, repetition_penalty: 3 });
      assert.equal(viaGrpc.caption, penalised);
    } finally {
      client.close();
    }
    await request(server.http).post('/v1/caption').send({ ...base, repetition_penalty: 0 }).expect(400);
  });

  it('searches with beams on both transports (one beam is greedy decoding), and refuses beams that cannot be', async () => {
    const base = { image: chelsea.toString('base64'), max_new_tokens: 8, prompt: 'a picture of' };
    const caption = async (extra: object) => (await request(server.http).post('/v1/caption').send({ ...base, ...extra }).expect(200)).body;
    assert.equal((await caption({ num_beams: 1 })).caption, (await caption({})).caption);
    const beamed = await caption({ num_beams: 3, length_penalty: 1.5 });
    assert.match(beamed.caption, /^a picture of/);
    const client = inferenceClient(server.grpcPort);
    try {
      const viaGrpc = await unary(client, 'Caption', { image: chelsea, max_new_tokens: 8, prompt: 'a picture of', num_beams: 3, length_penalty: 1.5 });
      assert.deepEqual([viaGrpc.caption, viaGrpc.finish_reason], [beamed.caption, beamed.finish_reason]);
    } finally {
      client.close();
    }
    for (const [extra, pattern] of [[{ num_beams: 9 }, /num_beams/], [{ num_beams: 2, temperature: 0.7 }, /leave temperature at 0/]] as const) {
      const res = await request(server.http).post('/v1/caption').send({ ...base, ...extra }).expect(400);
      assert.match(res.body.error.message, pattern);
    }
  });

  it('gives each of several concurrent captions, with and without prompts, what it gets alone', async () => {
    const bodies = [{}, { prompt: 'a picture of' }, { prompt: 'a photography of a' }, { max_new_tokens: 3 }].map((extra) => ({ image: chelsea.toString('base64'), max_new_tokens: 7, min_new_tokens: 3, ...extra }));
    const alone = [];
    for (const body of bodies) alone.push((await request(server.http).post('/v1/caption').send(body).expect(200)).body.caption);
    const together = await Promise.all(bodies.map(async (body) => (await request(server.http).post('/v1/caption').send(body).expect(200)).body.caption));
    assert.deepEqual(together, alone);
  });
});

describe('a captioner\'s own decoding defaults (generation_config.json)', () => {
  let server: RunningServer;
  let withDefaults: string;
  let chelsea: Buffer;

  before(async () => {
    // The tiny BLIP again, with a generation_config.json: four beams, no repeated token, 7 in all.
    const dir = await tinyBlipDir();
    withDefaults = await mkdtemp(path.join(os.tmpdir(), 'mms-blip-defaults-'));
    for (const name of await readdir(dir)) await symlink(path.join(dir, name), path.join(withDefaults, name));
    await writeFile(path.join(withDefaults, 'generation_config.json'), JSON.stringify({ bos_token_id: 30522, num_beams: 4, no_repeat_ngram_size: 1, max_length: 7 }));
    server = await startTestServer(['--model-dir', `plain=${dir}`, '--model-dir', `tuned=${withDefaults}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(async () => {
    await server?.close();
    await rm(withDefaults, { recursive: true, force: true });
  });

  const caption = async (body: object) => (await request(server.http).post('/v1/caption').send({ image: chelsea.toString('base64'), ...body }).expect(200)).body;

  it('decodes as the model says when the request does not, and as the request says when it does', async () => {
    const byDefault = await caption({ model: 'tuned' });
    const spelledOut = await caption({ model: 'plain', num_beams: 4, no_repeat_ngram_size: 1, max_new_tokens: 6 });
    assert.deepEqual([byDefault.caption, byDefault.tokens], [spelledOut.caption, spelledOut.tokens]);
    const overridden = await caption({ model: 'tuned', num_beams: 1, max_new_tokens: 3 });
    assert.equal(overridden.caption, (await caption({ model: 'plain', no_repeat_ngram_size: 1, max_new_tokens: 3 })).caption);
    const listed = (await request(server.http).get('/v1/models').expect(200)).body.data.find((m: { id: string }) => m.id === 'tuned');
    assert.deepEqual(listed.generation_defaults, { max_new_tokens: 6, no_repeat_ngram_size: 1, num_beams: 4 });
  });
});
