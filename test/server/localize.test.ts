import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import request from 'supertest';
import { labelPatchCosines } from '../../src/pipelines/attention/label-localizer.js';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

// chelsea.png is 451×300: CLIP resizes the short side to 224 (336×224), then crops 224 from x = 56.
const CROP = { x: (56 * 451) / 336, width: (224 * 451) / 336 };

describe('CLIP attention maps and label localisation (POST /v1/zero-shot/localize, gRPC Localize)', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `clip=${await tinyClipDir()}`]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(() => server?.close());

  it("maps a CLIP vision tower's attention on a 7×7 grid (patch 32) over the crop window only", async () => {
    const res = await request(server.http).post('/v1/attention').field('model', 'clip').field('format', 'json').attach('image', chelsea, 'c.png').expect(200);
    assert.deepEqual(res.body.grid, { rows: 7, cols: 7, patch_size: 32, special_tokens: 1 });
    assert.ok(Math.abs(res.body.region.x - CROP.x) < 0.01 && Math.abs(res.body.region.width - CROP.width) < 0.01, JSON.stringify(res.body.region));
    assert.deepEqual([res.body.region.y, res.body.region.height], [0, 300]);
    const classify = await request(server.http).post('/v1/attention').field('model', 'clip').field('classify', 'true').attach('image', chelsea, 'c.png').expect(400);
    assert.match(classify.body.error.message, /classify needs an image classifier/);
  });

  it('gives one grid of cosines per label, and the same image-level scores as /v1/zero-shot', async () => {
    const labels = ['cat', 'remote control', 'sofa'];
    const res = await request(server.http)
      .post('/v1/zero-shot/localize')
      .send({ image: chelsea.toString('base64'), labels, format: 'json' })
      .expect(200);
    assert.deepEqual(res.body.maps.map((m: { label: string }) => m.label), labels);
    for (const map of res.body.maps as { values: number[][] }[]) {
      assert.equal(map.values.length, 7);
      assert.ok(map.values.flat().every((c) => c >= -1 - 1e-5 && c <= 1 + 1e-5));
    }
    assert.notDeepEqual(res.body.maps[0].values, res.body.maps[1].values, 'each label has its own map');
    assert.deepEqual(res.body.prompts[0], { label: 'cat', texts: ['a photo of a cat.'] });

    const zeroShot = await request(server.http).post('/v1/zero-shot').send({ image: chelsea.toString('base64'), labels }).expect(200);
    assert.deepEqual(res.body.predictions.map((p: { label: string }) => p.label), zeroShot.body.predictions.map((p: { label: string }) => p.label));
    res.body.predictions.forEach((p: { score: number }, i: number) => assert.ok(Math.abs(p.score - zeroShot.body.predictions[i].score) < 1e-5));
    assert.deepEqual(res.body.cache, { hits: 0, misses: 3 });
    assert.equal(zeroShot.body.cache.hits, 3, 'localisation and zero-shot share the embedding cache');
  });

  it('draws one tile per label as a PNG mosaic (multipart, curl-style)', async () => {
    const res = await request(server.http)
      .post('/v1/zero-shot/localize')
      .field('labels', 'cat')
      .field('labels', 'sofa')
      .attach('image', chelsea, 'c.png')
      .buffer(true)
      .parse((r, done) => {
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => done(null, Buffer.concat(chunks)));
      })
      .expect(200);
    assert.equal(res.headers['content-type'], 'image/png');
    assert.equal(res.headers['x-attention-grid'], '7x7');
    const mosaic = await sharp(res.body as Buffer).metadata();
    assert.equal(mosaic.width, 2 * 320, 'two tiles of the photo scaled to 320 px wide');
  });

  it('answers gRPC Localize, and refuses bad requests on both transports', async () => {
    const client = inferenceClient(server.grpcPort);
    try {
      const response = await unary(client, 'Localize', { image: chelsea, labels: ['cat', 'dog'], format: 'both', colormap: 'viridis' });
      assert.deepEqual(response.maps.map((m: { label: string }) => m.label), ['cat', 'dog']);
      assert.equal(response.maps[0].values.length, 49);
      assert.equal((await sharp(response.png).metadata()).format, 'png');
      const noLabels = await unary(client, 'Localize', { image: chelsea }).then(
        () => assert.fail('accepted no labels'),
        (e: ServiceError) => e,
      );
      assert.equal(noLabels.code, status.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
    const tooMany = Array.from({ length: 65 }, (_, i) => `label ${i}`);
    const res = await request(server.http).post('/v1/zero-shot/localize').send({ image: chelsea.toString('base64'), labels: tooMany }).expect(400);
    assert.match(res.body.error.message, /at most 64 labels/);
  });

  it('computes each label map as the cosine of the label to every normalised patch, skipping the CLS token', () => {
    const label = Float32Array.from([1, 0]);
    const tokens = Float32Array.from([9, 9, /* patches: */ 2, 0, 0, 3, -1, 1]);
    const [map] = labelPatchCosines([label], tokens, 1);
    assert.deepEqual(Array.from(map!).map((v) => Number(v.toFixed(6))), [1, 0, Number((-1 / Math.SQRT2).toFixed(6))]);
  });
});
