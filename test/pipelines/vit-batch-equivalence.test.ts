import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { preprocessImage } from '../../src/models/image/index.js';
import { loadVitModel, VIT_SESSION, type VitModel } from '../../src/models/vit/load-vit.js';
import { encoderRunBatch, type EncodedRow } from '../../src/pipelines/batched-encoder.js';
import { VIT_TINY } from '../../src/models/generator/index.js';
import { SHARED_PHOTOS, sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir, vitModelDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

describe('ViT: a batch of N equals N single runs', () => {
  let model: VitModel;
  let pixels: Float32Array[];
  before(async () => {
    model = await loadVitModel({ dir: await tinyVitDir(), variant: 'fp32', instances: 1, intraOpThreads: 1, providers: ['cpu'], requireProvider: false, allowSpinning: false });
    pixels = await Promise.all(
      SHARED_PHOTOS.map(async (name) => (await preprocessImage(await readFile(sharedImage(name)), model.image, { maxPixels: 5e7 })).pixelValues),
    );
  });
  after(() => model.pool.close());

  it('matches within 1e-4 for every photo', async (t) => {
    const run = encoderRunBatch(model.pool, { session: VIT_SESSION, inputName: 'pixel_values', itemDims: model.itemDims, outputName: 'logits' });
    const signal = new AbortController().signal;
    // The pool transfers (detaches) the input buffers, so every run gets its own copies.
    const batched = (await run(pixels.map((p) => p.slice()), signal)) as EncodedRow[];
    assert.equal(batched.length, pixels.length);
    for (const [i, item] of pixels.entries()) {
      const [single] = (await run([item.slice()], signal)) as EncodedRow[];
      const diff = maxAbsDiff(batched[i]!.row, single!.row);
      t.diagnostic(`${SHARED_PHOTOS[i]}: max |batch - single| = ${diff.toExponential(2)}`);
      assert.ok(diff < 1e-4, `${SHARED_PHOTOS[i]} differs by ${diff}`);
      assert.equal(batched[i]!.batchSize, pixels.length);
      assert.deepEqual(batched[i]!.dims, [VIT_TINY.numLabels]);
    }
    // Different photos give different logits: the batch rows are not copies of each other.
    assert.ok(maxAbsDiff(batched[0]!.row, batched[1]!.row) > 1e-2, 'maxAbsDiff(batched[0]!.row, batched[1]!.row) > 1e-2');
  });

  it('reuses a returned batch buffer with only the new batch in it', async () => {
    const run = encoderRunBatch(model.pool, { session: VIT_SESSION, inputName: 'pixel_values', itemDims: model.itemDims, outputName: 'logits' });
    const signal = new AbortController().signal;
    const forward = (await run(pixels.map((p) => p.slice()), signal)) as EncodedRow[];
    // Same batch size: this batch is stacked into the buffer the first one came back in.
    const reversed = (await run(pixels.map((p) => p.slice()).reverse(), signal)) as EncodedRow[];
    for (const [i, row] of forward.entries()) {
      assert.ok(maxAbsDiff(row.row, reversed[pixels.length - 1 - i]!.row) < 1e-5, `photo ${i} changed when its batch buffer was reused`);
    }
  });
});

describe('legacy (ViTFeatureExtractor) and current (ViTImageProcessor) preprocessor configs', () => {
  it('serve the same model with the same answers', async () => {
    const server = await startTestServer([
      '--model-dir', `current=${await tinyVitDir()}`,
      '--model-dir', `legacy=${await vitModelDir(VIT_TINY, 'legacy')}`,
    ]);
    try {
      const legacyConfig = JSON.parse(await readFile(`${server.registry.get('legacy')!.spec!.dir}/preprocessor_config.json`, 'utf8'));
      assert.equal(legacyConfig.feature_extractor_type, 'ViTFeatureExtractor');
      assert.equal(legacyConfig.size, 224);
      const image = (await readFile(sharedImage('rocket.jpg'))).toString('base64');
      const current = await request(server.http).post('/v1/classify').send({ image, model: 'current', top_k: 10 }).expect(200);
      const legacy = await request(server.http).post('/v1/classify').send({ image, model: 'legacy', top_k: 10 }).expect(200);
      assert.deepEqual(legacy.body.predictions, current.body.predictions);
    } finally {
      await server.close();
    }
  });
});
