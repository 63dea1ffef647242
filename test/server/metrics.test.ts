import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import request from 'supertest';
import { Batcher } from '../../src/pipelines/batcher.js';
import { ServerMetrics } from '../../src/server/metrics.js';
import { startServer } from '../../src/server/server.js';
import { heldLoader } from '../helpers/held-loader.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { quietLogger, startTestServer, testConfig } from '../helpers/test-server.js';

const PROMTOOL = '/usr/bin/promtool';

/** The value of one sample line in Prometheus text, e.g. `mms_queue_depth{model="m",component="model",variant="fp32"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** A runBatch the test releases by hand. */
function gatedRunBatch() {
  const gates: Array<() => void> = [];
  const sizes: number[] = [];
  return {
    sizes,
    release: () => gates.splice(0).forEach((open) => open()),
    get waiting() {
      return gates.length;
    },
    runBatch: async (items: readonly number[]) => {
      sizes.push(items.length);
      await new Promise<void>((resolve) => gates.push(resolve));
      return items.map((x) => x * 2);
    },
  };
}

describe('metrics', () => {
  it('show queue depth and batch size > 1 under concurrent load (gated runBatch)', async () => {
    const metrics = new ServerMetrics();
    const gate = gatedRunBatch();
    const batcher = new Batcher<number, number>({
      runBatch: gate.runBatch,
      maxBatchSize: 8,
      maxQueueSize: 64,
      concurrency: 1,
      events: metrics.batcherEvents({ model: 'm', variant: 'fp32' }, 'model'),
    });
    const answers = Array.from({ length: 6 }, (_, i) => batcher.submit(i));
    await Promise.resolve();
    await Promise.resolve();
    const whileBlocked = await metrics.registry.metrics();
    assert.equal(sample(whileBlocked, 'mms_queue_depth{model="m",component="model",variant="fp32"}'), 5, 'one item runs, five wait');
    assert.equal(sample(whileBlocked, 'mms_batches_in_flight{model="m",component="model",variant="fp32"}'), 1);
    gate.release();
    while (gate.waiting === 0) await new Promise((resolve) => setImmediate(resolve));
    gate.release();
    assert.deepEqual(await Promise.all(answers), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(gate.sizes, [1, 5]);
    const after = await metrics.registry.metrics();
    assert.equal(sample(after, 'mms_queue_depth{model="m",component="model",variant="fp32"}'), 0);
    assert.equal(sample(after, 'mms_batch_size_count{model="m",component="model",variant="fp32"}'), 2);
    assert.equal(sample(after, 'mms_batch_size_sum{model="m",component="model",variant="fp32"}'), 6);
    assert.equal(sample(after, 'mms_batch_size_bucket{le="4",model="m",component="model",variant="fp32"}'), 1, 'one batch was bigger than 4');
    assert.equal(sample(after, 'mms_items_processed_total{model="m",component="model",variant="fp32"}'), 6);
  });

  it('16 concurrent requests to the real server run in fewer batches than requests', async () => {
    // Hold the first batch in the worker pool until all 16 requests are queued.
    const held = heldLoader();
    const server = await startServer(
      testConfig(['--model-dir', `vit=${await tinyVitDir()}`, '--instances', '1', '--max-batch-size', '16']),
      quietLogger(),
      { loader: held.loader },
    );
    try {
      await server.loaded;
      const photo = await readFile(sharedImage('chelsea.png'));
      const responses = Array.from({ length: 16 }, () => request(server.http).post('/v1/classify').attach('image', photo, 'c.png').then((r) => r));
      const batcher = server.registry.get('vit')!.loaded!.components.model!.batcher;
      while (batcher.queueDepth < 15) await new Promise((resolve) => setTimeout(resolve, 5));
      held.release();
      const results = await Promise.all(responses);
      assert.deepEqual(new Set(results.map((r) => r.status)), new Set([200]));
      const text = await (await request(server.http).get('/metrics')).text;
      const batches = sample(text, 'mms_batch_size_count{model="vit",component="model",variant="fp32"}')!;
      assert.ok(batches < 16, `16 requests ran in ${batches} batches`);
      assert.equal(batches, 2, 'one held batch of 1, then one of 15');
      assert.equal(Math.max(...results.map((r) => r.body.timing.batch_size)), 15);
      assert.equal(sample(text, 'mms_requests_total{model="vit",variant="fp32",task="image-classification",transport="http",code="ok"}'), 16);
    } finally {
      held.release();
      await server.close();
    }
  });

  it('the live /metrics output passes promtool check metrics', async () => {
    if (!existsSync(PROMTOOL)) throw new Error(`${PROMTOOL} not found: run npm run setup (Debian package prometheus)`);
    const server = await startTestServer(['--model-dir', `vit=${await tinyVitDir()}`, '--providers', 'cuda,cpu']);
    try {
      const photo = await readFile(sharedImage('coffee.png'));
      await request(server.http).post('/v1/classify').attach('image', photo, 'c.png').expect(200);
      await request(server.http).post('/v1/classify').send({ image: 'bad!' }).expect(400);
      await request(server.http).post('/v1/classify').send({ image: photo.toString('base64'), model: 'nope' }).expect(404);
      const res = await request(server.http).get('/metrics').expect(200);
      assert.match(res.headers['content-type'] ?? '', /text\/plain/);
      const text = res.text;
      assert.equal(sample(text, 'mms_requests_total{model="vit",variant="fp16",task="image-classification",transport="http",code="ok"}'), 1);
      assert.equal(sample(text, 'mms_requests_total{model="unknown",variant="unknown",task="image-classification",transport="http",code="invalid_image"}'), 1);
      assert.equal(sample(text, 'mms_requests_total{model="unknown",variant="unknown",task="image-classification",transport="http",code="model_not_found"}'), 1);
      assert.equal(sample(text, 'mms_model_info{model="vit",variant="fp16",task="image-classification",family="vit",execution_provider="cpu"}'), 1);
      assert.equal(sample(text, 'mms_model_ready{model="vit",variant="fp16"}'), 1);
      assert.match(text, /^nodejs_eventloop_lag_seconds /m);
      assert.match(text, /^process_resident_memory_bytes /m);
      const check = spawnSync(PROMTOOL, ['check', 'metrics'], { input: text, encoding: 'utf8' });
      assert.equal(check.status, 0, `promtool: ${check.stdout}${check.stderr}`);
    } finally {
      await server.close();
    }
  });
});
