import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { OnnxGraphBuilder, vitPreprocessorJson } from '../../src/models/generator/index.js';
import type { NamedTensors } from '../../src/models/session/tensor.js';
import { WorkerPool } from '../../src/models/session/worker-pool.js';
import { loadVitModel } from '../../src/models/vit/load-vit.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { slowVitDir, tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const poolOptions = { instances: 1, intraOpThreads: 1, providers: ['cpu' as const], requireProvider: false, allowSpinning: false };
const vitOptions = { variant: 'fp32', instances: 1, intraOpThreads: 1, providers: ['cpu'], requireProvider: false, allowSpinning: false } as const;

describe('worker pool runs', () => {
  it('gives the inputs back after a run, for their buffers to be reused', async () => {
    const pool = await WorkerPool.create({ sessions: { model: path.join(await tinyVitDir(), 'onnx', 'model.onnx') }, ...poolOptions });
    try {
      const [, channels, height, width] = pool.session('model').inputs[0]!.shape as number[];
      const values = Float32Array.from({ length: channels! * height! * width! }, (_, i) => Math.sin(i));
      const sent = values.slice();
      let returned: NamedTensors | undefined;
      const outputs = await pool.run('model', { pixel_values: { type: 'float32', dims: [1, channels!, height!, width!], data: sent } }, ['logits'], {
        onFeedsReturned: (feeds) => (returned = feeds),
      });
      assert.equal(sent.length, 0, 'the input buffer was transferred to the worker, not copied');
      assert.ok(outputs.logits, 'the run answered');
      assert.deepEqual(returned?.pixel_values?.dims, [1, channels, height, width]);
      assert.deepEqual(returned?.pixel_values?.data, values, 'the same values came back');
      // A tensor sent twice reaches the worker empty: refused at once, and the pool goes on.
      const twice = { pixel_values: { type: 'float32' as const, dims: [1, channels!, height!, width!], data: sent } };
      await assert.rejects(pool.run('model', twice, ['logits']), /feed 'pixel_values' has no data/);
      assert.ok((await pool.run('model', { pixel_values: { ...twice.pixel_values, data: values.slice() } }, ['logits'])).logits);
    } finally {
      await pool.close();
    }
  });
});

describe('execution providers', () => {
  it('falls back to CPU when CUDA is not there, and says so', async () => {
    const pool = await WorkerPool.create({
      sessions: { model: path.join(await tinyVitDir(), 'onnx', 'model.onnx') },
      instances: 1,
      intraOpThreads: 1,
      providers: ['cuda', 'cpu'],
      requireProvider: false,
      allowSpinning: false,
    });
    try {
      assert.equal(pool.provider, 'cpu');
      assert.equal(pool.fallbacks[0]?.provider, 'cuda');
      assert.match(pool.fallbacks[0]?.message ?? '', /cuda/i);
    } finally {
      await pool.close();
    }
  });

  it('fails to load, naming the provider, when the provider is required', async () => {
    await assert.rejects(
      WorkerPool.create({
        sessions: { model: path.join(await tinyVitDir(), 'onnx', 'model.onnx') },
        instances: 1,
        intraOpThreads: 1,
        providers: ['cuda'],
        requireProvider: true,
        allowSpinning: false,
      }),
      /no execution provider could load .* \(cuda: /,
    );
  });

  it('reports the provider in use on /v1/models', async () => {
    const server = await startTestServer(['--model-dir', await tinyVitDir(), '--providers', 'cuda,cpu']);
    try {
      const res = await request(server.http).get('/v1/models').expect(200);
      assert.equal(res.body.data[0].execution_provider, 'cpu');
      assert.equal(res.body.data[0].state, 'ready');
    } finally {
      await server.close();
    }
  });
});

describe('a worker holding several sessions (the components of one model)', () => {
  it('runs the session each batch names, on one provider, and refuses an unknown name', async () => {
    const tiny = path.join(await tinyVitDir(), 'onnx', 'model.onnx');
    const slow = path.join(await slowVitDir(), 'onnx', 'model.onnx');
    const pool = await WorkerPool.create({ sessions: { tiny, slow }, instances: 1, intraOpThreads: 1, providers: ['cpu'], requireProvider: false, allowSpinning: false });
    try {
      assert.deepEqual(Object.keys(pool.sessions), ['tiny', 'slow']);
      const size = (name: string) => pool.session(name).inputs[0]!.shape.slice(1).reduce<number>((a, b) => a * Number(b), 1);
      const feeds = (name: string) => ({ pixel_values: { type: 'float32' as const, dims: [1, ...pool.session(name).inputs[0]!.shape.slice(1).map(Number)], data: new Float32Array(size(name)) } });
      const [tinyOut, slowOut] = await Promise.all([pool.run('tiny', feeds('tiny'), ['logits']), pool.run('slow', feeds('slow'), ['logits'])]);
      assert.deepEqual(tinyOut.logits?.dims, [1, Number(pool.session('tiny').outputs[0]!.shape[1])]);
      assert.deepEqual(slowOut.logits?.dims, [1, Number(pool.session('slow').outputs[0]!.shape[1])]);
      assert.throws(() => pool.session('text_model'), /no session 'text_model' \(the pool holds tiny, slow\)/);
      await assert.rejects(pool.run('text_model', feeds('tiny'), ['logits']), /no session 'text_model'/);
    } finally {
      await pool.close();
    }
  });
});

describe('ONNX contract check', () => {
  let dir: string;
  before(async () => {
    // A graph that is not a ViT export: its input is called `input`, not `pixel_values`.
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-contract-'));
    const graph = new OnnxGraphBuilder({ graphName: 'not-a-vit' });
    const input = graph.input('input', 'float32', ['batch', 3, 224, 224]);
    const pooled = graph.op('ReduceMean', [input], { name: 'pool', attrs: { axes: [2, 3], keepdims: 0 } });
    const weight = graph.initializer('w', 'float32', [3, 10], new Float32Array(30).fill(0.1));
    graph.op('MatMul', [pooled, weight], { name: 'head', output: 'logits' });
    graph.output('logits', 'float32', ['batch', 10]);
    await mkdir(path.join(dir, 'onnx'));
    await writeFile(path.join(dir, 'onnx', 'model.onnx'), graph.toBytes());
    await writeFile(path.join(dir, 'config.json'), JSON.stringify({ num_labels: 10 }));
    await writeFile(path.join(dir, 'preprocessor_config.json'), JSON.stringify(vitPreprocessorJson('current')));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('names the mismatch', async () => {
    await assert.rejects(loadVitModel({ ...vitOptions, dir, providers: ['cpu'] }), (error: Error) => {
      assert.match(error.message, /does not match the vit ONNX contract/);
      assert.match(error.message, /input 'pixel_values' is missing \(the model has inputs: input\)/);
      assert.match(error.message, /input 'input' is not part of the vit contract/);
      return true;
    });
  });

  it('serves the other models and reports the failed one', async () => {
    const server = await startTestServer(['--model-dir', `broken=${dir}`, '--model-dir', `good=${await tinyVitDir()}`]);
    try {
      const ready = await request(server.http).get('/readyz').expect(200);
      const states = Object.fromEntries(ready.body.models.map((m: { id: string; state: string }) => [m.id, m.state]));
      assert.deepEqual(states, { broken: 'failed', good: 'ready' });
      const res = await request(server.http)
        .post('/v1/classify')
        .send({ image: (await readFile(sharedImage('chelsea.png'))).toString('base64'), model: 'broken' })
        .expect(503);
      assert.match(res.body.error.message, /pixel_values/);
    } finally {
      await server.close();
    }
  });
});

describe('a session worker that dies', () => {
  it('is replaced, and only its in-flight request fails', async () => {
    const server = await startTestServer(['--model-dir', `tiny=${await tinyVitDir()}`, '--instances', '2', '--threads', '1', '--max-batch-size', '1']);
    try {
      const loaded = server.registry.get('tiny')!.loaded!;
      const photo = await readFile(sharedImage('coffee.png'));
      loaded.pool.injectCrash(0);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => request(server.http).post('/v1/classify').attach('image', photo, 'c.png').then((res) => res)),
      );
      const statuses = results.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 500], JSON.stringify(results.map((r) => r.body)));
      const failed = results.find((r) => r.status === 500)!;
      assert.equal(failed.body.error.code, 'internal');
      assert.match(failed.body.error.message, /worker exited/);
      for (let waited = 0; loaded.pool.replacements === 0 && waited < 10_000; waited += 10) {
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(loaded.pool.replacements, 1, 'the dead worker was replaced');
      await request(server.http).post('/v1/classify').attach('image', photo, 'c.png').expect(200);
      await request(server.http).get('/readyz').expect(200);
    } finally {
      await server.close();
    }
  });

  it('when no replacement can load, requests fail fast with not_ready instead of hanging', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mms-vanishing-'));
    await cp(await tinyVitDir(), dir, { recursive: true });
    const server = await startTestServer(['--model-dir', `v=${dir}`, '--instances', '1', '--max-batch-size', '1']);
    try {
      const loaded = server.registry.get('v')!.loaded!;
      const photo = await readFile(sharedImage('coffee.png'));
      await rm(path.join(dir, 'onnx', 'model.onnx')); // the replacement will not find its graph
      loaded.pool.injectCrash(0);
      const crashed = await request(server.http).post('/v1/classify').attach('image', photo, 'c.png');
      assert.equal(crashed.status, 500);
      let res: request.Response;
      let tries = 0;
      do {
        res = await request(server.http).post('/v1/classify').attach('image', photo, 'c.png');
      } while (res.status === 500 && ++tries < 20);
      assert.equal(res.status, 503, JSON.stringify(res.body));
      assert.equal(res.body.error.code, 'not_ready');
      assert.match(res.body.error.message, /no session worker is running|unhealthy|not ready/i);
    } finally {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
