/**
 * CLIP zero-shot classification on the real server (generated tiny CLIP, real onnxruntime, real
 * photos), over HTTP and gRPC: strategies, the text-embedding cache, batching, and bad input.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { loadClipModel, CLIP_TEXT_SESSION, CLIP_VISION_SESSION, type ClipModel } from '../../src/models/clip/load-clip.js';
import { preprocessImage } from '../../src/models/image/index.js';
import { encoderRunBatch } from '../../src/pipelines/batched-encoder.js';
import { softmax } from '../../src/pipelines/scores.js';
import { textEncoderRunBatch } from '../../src/pipelines/text-encoder.js';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir, tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

type Scored = { label: string; score: number };

/** A counter's value in /metrics text (0 when the series does not exist yet). */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe('POST /v1/zero-shot and gRPC ZeroShot on a generated CLIP', () => {
  let server: RunningServer;
  let client: grpc.Client & Record<string, Function>;
  let chelsea: Buffer;
  let coffee: Buffer;
  const labels = ['cat', 'dog', 'coffee', 'rocket'];

  before(async () => {
    server = await startTestServer(['--model-dir', `clip=${await tinyClipDir()}`, '--model-dir', `vit=${await tinyVitDir()}`]);
    client = inferenceClient(server.grpcPort);
    chelsea = await readFile(sharedImage('chelsea.png'));
    coffee = await readFile(sharedImage('coffee.png'));
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  const zeroShot = (body: Record<string, unknown>) => request(server.http).post('/v1/zero-shot').send(body);

  it('is served beside the ViT, detected from the folder, and listed with its components', async () => {
    const models = await request(server.http).get('/v1/models').expect(200);
    const clip = models.body.data.find((m: { id: string }) => m.id === 'clip');
    assert.equal(clip.task, 'zero-shot-image-classification');
    assert.equal(clip.state, 'ready');
    assert.deepEqual(clip.components, ['text_model', 'vision_model', 'attention']);
    assert.deepEqual(clip.attention, { layers: 2, heads: 2, grid: { rows: 7, cols: 7, patch_size: 32, special_tokens: 1 }, similarity_layers: [0, 1] });
    assert.equal(clip.logit_scale, 100);
  });

  it('scores every label by softmax over the labels, sorted, with the prompts it used', async () => {
    const res = await zeroShot({ image: chelsea.toString('base64'), labels }).expect(200);
    const predictions: Scored[] = res.body.predictions;
    assert.deepEqual([...predictions.map((p) => p.label)].sort(), [...labels].sort());
    for (let i = 1; i < predictions.length; i++) assert.ok(predictions[i - 1]!.score >= predictions[i]!.score);
    assert.ok(Math.abs(predictions.reduce((s, p) => s + p.score, 0) - 1) < 1e-6);
    assert.equal(res.body.scores, 'softmax');
    assert.equal(res.body.strategy, 'template');
    assert.deepEqual(res.body.prompts[0], { label: 'cat', texts: ['a photo of a cat.'] });
    assert.equal(res.body.random_weights, true);
  });

  it('answers the same over multipart, JSON and gRPC', async () => {
    const json = await zeroShot({ image: chelsea.toString('base64'), labels, strategy: 'plain' }).expect(200);
    const multipart = await request(server.http)
      .post('/v1/zero-shot')
      .field('labels', JSON.stringify(labels))
      .field('strategy', 'plain')
      .attach('image', chelsea, 'c.png')
      .expect(200);
    const viaGrpc = await unary(client, 'ZeroShot', { image: chelsea, labels, strategy: 'plain' });
    for (const other of [multipart.body.predictions, viaGrpc.predictions]) {
      assert.deepEqual(other.map((p: Scored) => p.label), json.body.predictions.map((p: Scored) => p.label));
      other.forEach((p: Scored, i: number) => assert.ok(Math.abs(p.score - json.body.predictions[i].score) < 1e-9));
    }
  });

  it('takes a hundred labels as repeated multipart fields', async () => {
    const many = Array.from({ length: 100 }, (_, i) => `label ${i}`);
    const form = request(server.http).post('/v1/zero-shot').attach('image', chelsea, 'c.png').field('top_k', '3');
    for (const label of many) form.field('labels', label);
    const res = await form.expect(200);
    assert.equal(res.body.prompts.length, 100);
    assert.equal(res.body.predictions.length, 3);
  });

  it('scores several images in one request, one result each, like one request per image', async () => {
    const both = await zeroShot({ images: [chelsea.toString('base64'), coffee.toString('base64')], labels, top_k: 2 }).expect(200);
    assert.equal(both.body.results.length, 2);
    const one = await zeroShot({ image: coffee.toString('base64'), labels, top_k: 2 }).expect(200);
    assert.deepEqual(both.body.results[1].predictions.map((p: Scored) => p.label), one.body.predictions.map((p: Scored) => p.label));
    assert.equal(one.body.predictions.length, 2);
  });

  it('multi_label returns each label’s cosine similarity instead of a softmax', async () => {
    const res = await zeroShot({ image: chelsea.toString('base64'), labels, multi_label: true }).expect(200);
    assert.equal(res.body.scores, 'cosine');
    const total = res.body.predictions.reduce((s: number, p: Scored) => s + p.score, 0);
    assert.ok(res.body.predictions.every((p: Scored) => p.score >= -1 && p.score <= 1));
    assert.ok(Math.abs(total - 1) > 1e-3, 'not a distribution');
  });

  it('ensemble and descriptive strategies average their prompts per label', async () => {
    const ensemble = await zeroShot({ image: chelsea.toString('base64'), labels: ['cat', 'dog'], strategy: 'ensemble' }).expect(200);
    assert.ok(ensemble.body.prompts[0].texts.length >= 8);
    const given = await zeroShot({ image: chelsea.toString('base64'), labels: ['cat', 'dog'], strategy: 'ensemble', templates: ['{label}', 'art of a {label}'] }).expect(200);
    assert.deepEqual(given.body.prompts[1].texts, ['dog', 'art of a dog']);
    const descriptive = await zeroShot({
      image: chelsea.toString('base64'),
      labels: ['cat', 'dog'],
      strategy: 'descriptive',
      descriptions: { cat: ['a small furry feline'], dog: ['a loyal canine', 'a barking pet'] },
    }).expect(200);
    assert.deepEqual(descriptive.body.prompts[1].texts, ['a loyal canine', 'a barking pet']);
  });

  it('a repeated label set runs the text tower zero times', async () => {
    const fresh = ['heron', 'pelican', 'flamingo'];
    const text = (await request(server.http).get('/metrics')).text;
    const series = 'mms_items_processed_total{model="clip",component="text_model",variant="fp32"}';
    const before = sample(text, series);
    const first = await zeroShot({ image: chelsea.toString('base64'), labels: fresh }).expect(200);
    assert.deepEqual(first.body.cache, { hits: 0, misses: 3 });
    const middle = sample((await request(server.http).get('/metrics')).text, series);
    assert.equal(middle - before, 3, 'three prompts went through the text tower');
    const again = await zeroShot({ image: coffee.toString('base64'), labels: fresh }).expect(200);
    assert.deepEqual(again.body.cache, { hits: 3, misses: 0 });
    const after = (await request(server.http).get('/metrics')).text;
    assert.equal(sample(after, series), middle, 'the text tower did not run');
    assert.ok(sample(after, 'mms_embedding_cache_requests_total{model="clip",variant="fp32",result="hit"}') >= 3);
  });

  it('flags prompts over 77 tokens and truncates them', async () => {
    const long = Array(100).fill('x').join(' '); // 199 characters, 100 words: 102 tokens
    const res = await zeroShot({ image: chelsea.toString('base64'), labels: [long, 'dog'], strategy: 'plain' }).expect(200);
    assert.deepEqual(res.body.truncated_prompts, [long]);
  });

  it('a label named like an Object property, and hostile prompt sizes, get clear answers', async () => {
    const image = chelsea.toString('base64');
    const proto = await zeroShot({ image, labels: ['constructor', 'cat'], strategy: 'descriptive', descriptions: { cat: ['a cat'] } }).expect(400);
    assert.match(proto.body.error.message, /none for 'constructor'/);
    // 1,000 labels of 300 characters in a template that repeats {label} 142 times: prompts are cut
    // to 1,000 characters before they are tokenized, and flagged.
    const long = Array.from({ length: 1000 }, (_, i) => `${i} ${'x'.repeat(295)}`);
    const started = performance.now();
    const big = await zeroShot({ image, labels: long, template: '{label}'.repeat(142), top_k: 1 }).expect(200);
    assert.ok(performance.now() - started < 30_000);
    assert.equal(big.body.truncated_prompts.length, 1000);
    assert.ok(big.body.prompts.every((p: { texts: string[] }) => p.texts[0]!.length <= 1000));
    // 64 templates × 1,000 labels is refused from the counts, before any prompt is built.
    const templates = Array.from({ length: 64 }, (_, i) => `${i} {label}`);
    const refused = await zeroShot({ image, labels: long, strategy: 'ensemble', templates }).expect(400);
    assert.match(refused.body.error.message, /1000 labels make 64000 prompts, over the limit of 4096/);
  });

  it('one caller leaving does not fail another waiting for the same prompts', async () => {
    const image = chelsea.toString('base64');
    const fresh = Array.from({ length: 300 }, (_, i) => `shared label ${i}`);
    const [leaving, staying] = await Promise.all([
      zeroShot({ image, labels: fresh, timeout_ms: 1 }),
      zeroShot({ image, labels: fresh }),
    ]);
    assert.equal(leaving.status, 504);
    assert.equal(staying.status, 200, staying.text);
  });

  it('gRPC refuses image and images together, as HTTP does', async () => {
    const error = await unary(client, 'ZeroShot', { image: chelsea, images: [chelsea], labels }).then(
      () => assert.fail('accepted'),
      (e: grpc.ServiceError) => e,
    );
    assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
    assert.match(error.details, /give one image as `image`, or several as `images`/);
  });

  it('refuses bad input with the table’s error on both transports', async () => {
    const image = chelsea.toString('base64');
    const cases: Array<[string, Record<string, unknown>, RegExp]> = [
      ['no labels', { image, labels: [] }, /at least one label/],
      ['1,001 labels', { image, labels: Array.from({ length: 1001 }, (_, i) => `label ${i}`) }, /at most 1000 labels/],
      ['a template without {label}', { image, labels, template: 'a photo' }, /must contain \{label\}/],
      ['too many prompts', { image, labels: Array.from({ length: 300 }, (_, i) => `l${i}`), strategy: 'ensemble' }, /prompts, over the limit of 4096/],
      ['an empty image', { image: '', labels }, /image is empty/],
      ['no image', { labels }, /give one image/],
    ];
    for (const [what, body, message] of cases) {
      const res = await zeroShot(body);
      assert.equal(res.status, 400, `${what}: ${res.status} ${res.text}`);
      assert.match(res.body.error.message, message, what);
      const grpcBody = { ...body, ...(typeof body.image === 'string' ? { image: Buffer.from(body.image, 'base64') } : {}) };
      const error = await unary(client, 'ZeroShot', grpcBody).then(
        () => assert.fail(`${what}: gRPC accepted it`),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(error.code, grpc.status.INVALID_ARGUMENT, `${what} over gRPC: ${error.message}`);
    }
    const unknown = await zeroShot({ image, labels, model: 'vit' }).expect(404);
    assert.match(unknown.body.error.message, /not served for zero-shot-image-classification \(served: clip\)/);
  });
});

describe('CLIP towers under batching, and against the combined graph', () => {
  let clip: ClipModel;
  let dir: string;
  const signal = new AbortController().signal;
  const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

  before(async () => {
    dir = await tinyClipDir();
    clip = await loadClipModel({ dir, variant: 'fp32', instances: 1, intraOpThreads: 1, providers: ['cpu'], requireProvider: false, allowSpinning: false });
  });
  after(() => clip?.pool.close());

  it('batched equals unbatched within 1e-4: texts of different lengths padded per batch, images stacked', async () => {
    const text = textEncoderRunBatch(clip.pool, { session: CLIP_TEXT_SESSION, outputName: 'text_embeds', padId: clip.tokenizer.padId, withAttentionMask: false });
    const ids = ['a cat', 'a photo of a dog.', 'a blurry photo of a golden retriever playing fetch in the park'].map((t) => clip.tokenizer.encode(t).ids);
    const together = await text(ids, signal);
    for (let i = 0; i < ids.length; i++) {
      const [alone] = await text([ids[i]!], signal);
      assert.ok(maxDiff((together[i] as { row: Float32Array }).row, (alone as { row: Float32Array }).row) < 1e-4, `prompt ${i}`);
    }
    const vision = encoderRunBatch(clip.pool, { session: CLIP_VISION_SESSION, inputName: 'pixel_values', itemDims: clip.imageDims, outputName: 'image_embeds' });
    const pixels = await Promise.all(['chelsea.png', 'coffee.png', 'rocket.jpg'] as const).then((names) =>
      Promise.all(names.map(async (n) => (await preprocessImage(await readFile(sharedImage(n)), clip.image, { maxPixels: 5e7 })).pixelValues)),
    );
    const stacked = await vision(pixels.map((p) => p.slice()), signal);
    for (let i = 0; i < pixels.length; i++) {
      const [alone] = await vision([pixels[i]!.slice()], signal);
      assert.ok(maxDiff((stacked[i] as { row: Float32Array }).row, (alone as { row: Float32Array }).row) < 1e-4, `image ${i}`);
    }
  });

  it("towers plus the server's scoring give the combined model.onnx's probabilities", async () => {
    const labels = ['cat', 'dog', 'coffee', 'rocket'];
    const server = await startTestServer(['--model-dir', `clip=${dir}`]);
    const session = await ort.InferenceSession.create(path.join(dir, 'onnx', 'model.onnx'));
    try {
      const photo = await readFile(sharedImage('chelsea.png'));
      const ours = await request(server.http).post('/v1/zero-shot').send({ image: photo.toString('base64'), labels, strategy: 'plain' }).expect(200);
      const ids = labels.map((l) => clip.tokenizer.encode(l).ids);
      const length = Math.max(...ids.map((i) => i.length));
      const inputIds = new BigInt64Array(labels.length * length).fill(BigInt(clip.tokenizer.padId));
      const mask = new BigInt64Array(labels.length * length);
      ids.forEach((row, r) => row.forEach((id, c) => ((inputIds[r * length + c] = BigInt(id)), (mask[r * length + c] = 1n))));
      const { pixelValues } = await preprocessImage(photo, clip.image, { maxPixels: 5e7 });
      const out = await session.run({
        input_ids: new ort.Tensor('int64', inputIds, [labels.length, length]),
        attention_mask: new ort.Tensor('int64', mask, [labels.length, length]),
        pixel_values: new ort.Tensor('float32', pixelValues, [1, ...clip.imageDims]),
      });
      const reference = softmax(out.logits_per_image!.data as Float32Array);
      for (const { label, score } of ours.body.predictions as Scored[]) {
        assert.ok(Math.abs(score - reference[labels.indexOf(label)]!) < 1e-4, `${label}: ${score} vs ${reference[labels.indexOf(label)]}`);
      }
    } finally {
      await session.release();
      await server.close();
    }
  });
});
