import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { writeBrightnessVit } from '../helpers/brightness-vit.js';
import { writeFusedAttentionVit } from '../helpers/fused-vit.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { VIT_TINY } from '../../src/models/generator/index.js';
import { tinyVitDir, vitModelDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

/** A binary supertest body as a Buffer. */
function binary(res: { on(event: string, listener: (chunk?: Buffer) => void): void; setEncoding(encoding: string): void }, done: (error: Error | null, body: Buffer) => void) {
  const chunks: Buffer[] = [];
  res.on('data', (chunk) => chunks.push(chunk!));
  res.on('end', () => done(null, Buffer.concat(chunks)));
}

/** A black 640×480 photo with a white 100×100 square whose top-left corner is at (x, y). */
function squarePhoto(x: number, y: number): Promise<Buffer> {
  const white = { input: { create: { width: 100, height: 100, channels: 3 as const, background: '#ffffff' } }, left: x, top: y };
  return sharp({ create: { width: 640, height: 480, channels: 3, background: '#000000' } }).composite([white]).png().toBuffer();
}

const argmax = (values: number[]) => values.indexOf(Math.max(...values));

describe('attention maps (POST /v1/attention, gRPC Explain)', () => {
  let server: RunningServer;
  let chelsea: Buffer;
  let dir: string;

  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-attention-'));
    const [vitProbe, clipProbe, fused] = await Promise.all([
      writeBrightnessVit(path.join(dir, 'vit-probe'), 'vit'),
      writeBrightnessVit(path.join(dir, 'crop-probe'), 'clip'),
      writeFusedAttentionVit(path.join(dir, 'fused')),
    ]);
    server = await startTestServer([
      ...['--model-dir', `vit-tiny=${await tinyVitDir()}`, '--model-dir', `vit-probe=${vitProbe}`],
      ...['--model-dir', `crop-probe=${clipProbe}`, '--model-dir', `fused=${fused}`],
      ...['--model-dir', `vit-384=${await vitModelDir({ ...VIT_TINY, imageSize: 384 })}`],
    ]);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers the grid as JSON: 14×14 for patch 16 at 224, covering the whole photo after a square resize', async () => {
    const res = await request(server.http).post('/v1/attention').field('format', 'json').attach('image', chelsea, 'chelsea.png').expect(200);
    const { width, height } = await sharp(chelsea).metadata();
    assert.equal(res.body.model, 'vit-tiny');
    assert.equal(res.body.method, 'cls');
    assert.equal(res.body.layer, 1, 'the last layer of two by default');
    assert.deepEqual(res.body.grid, { rows: 14, cols: 14, patch_size: 16, special_tokens: 1 });
    assert.deepEqual(res.body.image_size, { width, height });
    assert.deepEqual(res.body.region, { x: 0, y: 0, width, height });
    assert.equal(res.body.maps.length, 1);
    assert.equal(res.body.maps[0].head, 'mean');
    const values: number[][] = res.body.maps[0].values;
    assert.equal(values.length, 14);
    assert.ok(values.every((row) => row.length === 14));
    const mass = values.flat().reduce((a, b) => a + b, 0);
    assert.ok(mass > 0 && mass <= 1 + 1e-5, `CLS attention to the patches sums to ${mass}`);
    assert.equal(res.body.png_base64, undefined);
    assert.equal(res.body.random_weights, true);
  });

  it('is 24×24 for patch 16 at 384', async () => {
    const res = await request(server.http).post('/v1/attention').field('model', 'vit-384').field('format', 'json').attach('image', chelsea, 'c.png').expect(200);
    assert.deepEqual(res.body.grid, { rows: 24, cols: 24, patch_size: 16, special_tokens: 1 });
    assert.equal(res.body.maps[0].values.flat().length, 576);
  });

  it('draws a PNG over the photo at its own size, and a labelled mosaic for every head', async () => {
    const png = await request(server.http).post('/v1/attention').attach('image', chelsea, 'chelsea.png').buffer(true).parse(binary).expect(200);
    assert.equal(png.headers['content-type'], 'image/png');
    assert.equal(png.headers['x-attention-grid'], '14x14');
    const photo = await sharp(chelsea).metadata();
    const overlay = await sharp(png.body as Buffer).metadata();
    assert.deepEqual([overlay.format, overlay.width, overlay.height], ['png', photo.width, photo.height]);

    const both = await request(server.http).post('/v1/attention').field('format', 'both').field('heads', 'all').attach('image', chelsea, 'c.png').expect(200);
    assert.deepEqual(both.body.maps.map((m: { head: number }) => m.head), [0, 1]);
    const mosaic = await sharp(Buffer.from(both.body.png_base64, 'base64')).metadata();
    assert.ok(mosaic.width! > 320 && mosaic.width! <= 640, `two tiles side by side: ${mosaic.width}`);
  });

  it('runs rollout and similarity, and classifies from the same run', async () => {
    const rollout = await request(server.http)
      .post('/v1/attention')
      .send({ image: chelsea.toString('base64'), method: 'rollout', format: 'json', classify: true, top_k: 3 })
      .expect(200);
    assert.equal(rollout.body.layer, 0);
    assert.equal(rollout.body.maps[0].values.flat().length, 196);
    const classify = await request(server.http).post('/v1/classify').field('top_k', '3').attach('image', chelsea, 'c.png').expect(200);
    assert.deepEqual(rollout.body.predictions.map((p: { index: number }) => p.index), classify.body.predictions.map((p: { index: number }) => p.index));

    const similarity = await request(server.http).post('/v1/attention').send({ image: chelsea.toString('base64'), method: 'similarity', layer: 0, format: 'json' }).expect(200);
    const cosines: number[] = similarity.body.maps[0].values.flat();
    assert.equal(similarity.body.maps[0].head, undefined);
    assert.ok(cosines.every((c) => c >= -1 - 1e-5 && c <= 1 + 1e-5));
  });

  it('lands the map on a bright square through a square resize (ViT processor)', async () => {
    const photo = await squarePhoto(420, 60); // centre (470, 110)
    const res = await request(server.http).post('/v1/attention').field('model', 'vit-probe').field('format', 'json').attach('image', photo, 'sq.png').expect(200);
    const hottest = argmax(res.body.maps[0].values.flat());
    const [row, col] = [Math.floor(hottest / 14), hottest % 14];
    // Cells fully inside the square: x 420–520 → cols ⌈420·14/640⌉ … ⌊520·14/640⌋ − 1 = 10; y 60–160 → rows 2 … 3.
    assert.ok(col === 10 && row >= 2 && row <= 3, `hottest cell (${row}, ${col})`);
  });

  it('lands it through a shortest-edge resize and center crop (CLIP processor), with no heat outside the crop', async () => {
    const photo = await squarePhoto(300, 300); // centre (350, 350), inside the crop window x 79.5–560.5
    const res = await request(server.http).post('/v1/attention').field('model', 'crop-probe').field('format', 'both').attach('image', photo, 'sq.png').expect(200);
    const { region } = res.body;
    assert.ok(Math.abs(region.x - (37 * 640) / 298) < 0.01 && Math.abs(region.width - (224 * 640) / 298) < 0.01, JSON.stringify(region));
    assert.deepEqual([region.y, region.height], [0, 480]);
    const hottest = argmax(res.body.maps[0].values.flat());
    const [row, col] = [Math.floor(hottest / 14), hottest % 14];
    const cellOf = (x: number, start: number, length: number) => Math.floor(((x - start) / length) * 14);
    assert.ok(col >= cellOf(300, region.x, region.width) && col <= cellOf(400, region.x, region.width), `hottest column ${col}`);
    assert.ok(row >= cellOf(300, 0, 480) && row <= cellOf(400, 0, 480), `hottest row ${row}`);

    const { data, info } = await sharp(Buffer.from(res.body.png_base64, 'base64')).raw().toBuffer({ resolveWithObject: true });
    const pixel = (x: number, y: number) => Array.from(data.subarray((y * info.width + x) * info.channels, (y * info.width + x) * info.channels + 3));
    const [r, , b] = pixel(350, 350);
    assert.ok(r! > 150 && r! > b!, `the square's centre is hot (jet's red over white): ${pixel(350, 350)}`);
    assert.deepEqual(pixel(20, 240), [0, 0, 0], 'left of the crop window the photo is untouched');
    const cold = pixel(200, 240);
    assert.ok(cold[2]! > cold[0]!, `inside the window, away from the square, the heat is cold (blue): ${cold}`);
  });

  it('refuses bad options with 400 on HTTP and INVALID_ARGUMENT on gRPC', async () => {
    const bad = [
      { field: 'layer', value: '2', message: /layer 2 is out of range: the model has 2 layers/ },
      { field: 'method', value: 'gradcam', message: /method/ },
      { field: 'heads', value: '7', message: /head 7 is out of range/ },
      { field: 'colormap', value: 'rainbow', message: /colormap/ },
    ];
    const client = inferenceClient(server.grpcPort);
    try {
      for (const { field, value, message } of bad) {
        const res = await request(server.http).post('/v1/attention').field(field, value).attach('image', chelsea, 'c.png').expect(400);
        assert.equal(res.body.error.code, 'invalid_request');
        assert.match(res.body.error.message, message);
        const error = await unary(client, 'Explain', { image: chelsea, [field]: field === 'layer' ? Number(value) : value }).then(
          () => assert.fail(`gRPC accepted ${field}=${value}`),
          (e: ServiceError) => e,
        );
        assert.equal(error.code, status.INVALID_ARGUMENT, `${field}=${value}`);
        assert.match(error.details, message);
      }
    } finally {
      client.close();
    }
  });

  it('serves a fused-attention model for classification, and says how to export it for attention maps', async () => {
    await request(server.http).post('/v1/classify').field('model', 'fused').attach('image', chelsea, 'c.png').expect(200);
    const models = await request(server.http).get('/v1/models').expect(200);
    const fused = models.body.data.find((m: { id: string }) => m.id === 'fused');
    assert.match(fused.attention.unavailable, /its attention is fused \(Attention nodes/);
    const res = await request(server.http).post('/v1/attention').field('model', 'fused').attach('image', chelsea, 'c.png').expect(400);
    assert.match(res.body.error.message, /model .*fused.*: its attention is fused .*Export it unfused/);
  });

  it('answers gRPC Explain with the grid and the PNG', async () => {
    const client = inferenceClient(server.grpcPort);
    try {
      const response = await unary(client, 'Explain', { image: chelsea, method: 'rollout', heads: 'max', format: 'both' });
      assert.equal(response.model, 'vit-tiny');
      assert.deepEqual(response.grid, { rows: 14, cols: 14, patch_size: 16, special_tokens: 1 });
      assert.equal(response.maps[0].head, 'max');
      assert.equal(response.maps[0].values.length, 196);
      assert.equal((await sharp(response.png).metadata()).format, 'png');
    } finally {
      client.close();
    }
  });
});
