import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

type Prediction = { label: string; score: number; index: number };

describe('POST /v1/classify on a generated ViT', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `vit-tiny=${await tinyVitDir()}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server.close());

  it('answers a multipart upload with top-5 predictions', async () => {
    const res = await request(server.http).post('/v1/classify').attach('image', chelsea, 'chelsea.png').expect(200);
    assert.equal(res.body.model, 'vit-tiny');
    const predictions: Prediction[] = res.body.predictions;
    assert.equal(predictions.length, 5);
    for (let i = 1; i < predictions.length; i++) assert.ok(predictions[i - 1]!.score >= predictions[i]!.score, 'sorted by score');
    const total = predictions.reduce((sum, p) => sum + p.score, 0);
    assert.ok(total > 0 && total <= 1 + 1e-6, 'total > 0 && total <= 1 + 1e-6');
    for (const p of predictions) assert.equal(p.label, `random class ${p.index}`);
    assert.equal(res.body.random_weights, true, 'generated models say they are random');
    assert.ok(res.body.timing.total_ms >= res.body.timing.inference_ms, 'res.body.timing.total_ms >= res.body.timing.inference_ms');
    assert.match(res.headers['x-request-id'] ?? '', /.+/);
  });

  it('gives the same predictions for multipart, base64 JSON, data URL and raw bytes', async () => {
    const multipart = await request(server.http).post('/v1/classify').field('top_k', '3').attach('image', chelsea, 'c.png').expect(200);
    const base64 = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), top_k: 3 }).expect(200);
    const dataUrl = await request(server.http)
      .post('/v1/classify')
      .send({ image: `data:image/png;base64,${chelsea.toString('base64')}`, top_k: 3, model: 'vit-tiny' })
      .expect(200);
    const raw = await request(server.http).post('/v1/classify?top_k=3').set('Content-Type', 'image/png').send(chelsea).expect(200);
    for (const other of [base64, dataUrl, raw]) assert.deepEqual(other.body.predictions, multipart.body.predictions);
    assert.equal(multipart.body.predictions.length, 3);
  });

  it('different photos give different answers', async () => {
    const coffee = await readFile(sharedImage('coffee.png'));
    const a = await request(server.http).post('/v1/classify').attach('image', chelsea, 'a.png').expect(200);
    const b = await request(server.http).post('/v1/classify').attach('image', coffee, 'b.png').expect(200);
    assert.notDeepEqual(a.body.predictions, b.body.predictions);
  });

  it('clamps top_k to the number of labels, like the HF pipeline', async () => {
    const res = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), top_k: 50 }).expect(200);
    assert.equal(res.body.predictions.length, 10);
  });

  const expectError = async (res: request.Response, status: number, code: string) => {
    assert.equal(res.status, status, `status for ${code}: ${JSON.stringify(res.body)}`);
    assert.equal(res.body.error.code, code);
    assert.equal(typeof res.body.error.message, 'string');
    assert.ok(res.body.error.message.length > 0, 'res.body.error.message.length > 0');
  };

  it('rejects each class of bad input with the table code', async () => {
    const post = () => request(server.http).post('/v1/classify');
    const truncated = chelsea.subarray(0, chelsea.length / 3);
    await expectError(await post().send({ top_k: 3 }), 400, 'invalid_request');
    await expectError(await post().send({ image: chelsea.toString('base64'), top_k: 0 }), 400, 'invalid_request');
    await expectError(await post().send({ image: chelsea.toString('base64'), top_k: 1001 }), 400, 'invalid_request');
    await expectError(await post().send({ image: chelsea.toString('base64'), top_k: 2.5 }), 400, 'invalid_request');
    await expectError(await post().field('top_k', 'many').attach('image', chelsea, 'c.png'), 400, 'invalid_request');
    await expectError(await post().send({ image: chelsea.toString('base64'), colour: 'red' }), 400, 'invalid_request');
    await expectError(await post().send({ image: 42 }), 400, 'invalid_request');
    await expectError(await post().set('Content-Type', 'application/json').send('{"image": '), 400, 'invalid_request');
    await expectError(await post().send([1, 2]), 400, 'invalid_request');
    await expectError(await post().attach('picture', chelsea, 'c.png'), 400, 'invalid_request');
    await expectError(await post().send({ image: '' }), 400, 'invalid_image');
    await expectError(await post().send({ image: 'not base64 at all!' }), 400, 'invalid_image');
    await expectError(await post().send({ image: Buffer.from('hello, I am text').toString('base64') }), 400, 'invalid_image');
    await expectError(await post().attach('image', truncated, 'c.png'), 400, 'invalid_image');
    await expectError(await post().attach('image', Buffer.alloc(0), 'empty.png'), 400, 'invalid_image');
    await expectError(await post().set('Content-Type', 'text/plain').send('hello'), 415, 'unsupported_media_type');
    await expectError(await post().send({ image: chelsea.toString('base64'), model: 'nope' }), 404, 'model_not_found');
    await expectError(await request(server.http).get('/v1/nothing'), 404, 'not_found');
  });

  it('names the served models when the model is unknown', async () => {
    const res = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), model: 'resnet' });
    assert.match(res.body.error.message, /vit-tiny/);
  });

  it('still serves after every bad request', async () => {
    await request(server.http).post('/v1/classify').attach('image', chelsea, 'c.png').expect(200);
  });
});

describe('request limits', () => {
  let server: RunningServer;
  let chelsea: Buffer;
  before(async () => {
    server = await startTestServer(['--model-dir', await tinyVitDir()], {
      limits: { jsonBodyBytes: 64 * 1024, imageBytes: 48 * 1024, maxImagePixels: 100_000, grpcMaxMessageBytes: 1 << 20 },
    });
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server.close());

  it('refuses bodies, files and pixel counts over their limits with 413', async () => {
    assert.ok(chelsea.length > 48 * 1024, 'the photo is bigger than the file limit');
    const json = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64') });
    assert.equal(json.status, 413);
    assert.equal(json.body.error.code, 'payload_too_large');
    const file = await request(server.http).post('/v1/classify').attach('image', chelsea, 'c.png');
    assert.equal(file.status, 413);
    assert.equal(file.body.error.code, 'payload_too_large');
    // A small file that decodes to many pixels: refused before decoding.
    const bomb = await sharp({ create: { width: 2000, height: 1000, channels: 3, background: '#808080' } }).png().toBuffer();
    assert.ok(bomb.length < 48 * 1024, 'bomb.length < 48 * 1024');
    const pixels = await request(server.http).post('/v1/classify').attach('image', bomb, 'bomb.png');
    assert.equal(pixels.status, 413);
    assert.equal(pixels.body.error.code, 'payload_too_large');
    const small = await sharp(chelsea).resize(100, 66).png().toBuffer();
    await request(server.http).post('/v1/classify').attach('image', small, 's.png').expect(200);
  });
});
