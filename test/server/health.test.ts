import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import request from 'supertest';
import { WorkerPool } from '../../src/models/session/worker-pool.js';
import { loadModel, type LoadDeps, type ModelSpec } from '../../src/pipelines/registry.js';
import { startServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { slowVitDir, tinyVitDir } from '../helpers/test-models.js';
import { quietLogger, testConfig } from '../helpers/test-server.js';

describe('health and readiness', () => {
  it('is alive at once, ready only after the models are loaded and warm', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    // Every session run made while the model loads, seen on the real WorkerPool: the batch size
    // it ran, the pool it ran on, and whether the server already said ready when it finished.
    const runs: { pool: WorkerPool; batchSize: number; readyWhenDone: boolean }[] = [];
    let runsWhenLoaderResolved: number | undefined;
    let servedPool: WorkerPool | undefined;
    const gatedLoader = async (spec: ModelSpec, deps: LoadDeps) => {
      await gate;
      const run = WorkerPool.prototype.run;
      WorkerPool.prototype.run = async function (this: WorkerPool, session, feeds, outputNames) {
        const batchSize = feeds.pixel_values?.dims[0] ?? 0; // read before run() transfers the buffers
        const outputs = await run.call(this, session, feeds, outputNames);
        runs.push({ pool: this, batchSize, readyWhenDone: server.registry.ready });
        return outputs;
      };
      try {
        const loaded = await loadModel(spec, deps);
        runsWhenLoaderResolved = runs.length;
        servedPool = loaded.pool;
        return loaded;
      } finally {
        WorkerPool.prototype.run = run;
      }
    };
    const server = await startServer(
      testConfig(['--model-dir', await tinyVitDir(), '--instances', '2', '--max-batch-size', '4']),
      quietLogger(),
      { loader: gatedLoader },
    );
    try {
      await request(server.http).get('/healthz').expect(200, { status: 'ok' });
      const notReady = await request(server.http).get('/readyz').expect(503);
      assert.equal(notReady.body.ready, false);
      assert.equal(notReady.body.models[0].state, 'loading');
      const early = await request(server.http)
        .post('/v1/classify')
        .attach('image', await readFile(sharedImage('chelsea.png')), 'c.png')
        .expect(503);
      assert.equal(early.body.error.code, 'not_ready');

      release();
      await server.loaded;
      // Warm-up: batch 1 and the max batch size (4) once on each of the 2 instances, for plain and
      // for attention runs, plus one run that measures the attention's shape; all on the served
      // model's own pool, finished before the loader resolved and before readiness.
      assert.equal(runsWhenLoaderResolved, 9, 'nine warm-up runs finished before the loader resolved');
      assert.deepEqual(runs.map((r) => r.batchSize).sort((a, b) => a - b), [1, 1, 1, 1, 1, 4, 4, 4, 4]);
      assert.ok(runs.every((r) => r.pool === servedPool), 'the warm-up ran on the pool that serves the model');
      assert.ok(runs.every((r) => !r.readyWhenDone), 'no warm-up run finished after the server said ready');
      const ready = await request(server.http).get('/readyz').expect(200);
      assert.deepEqual(ready.body.models.map((m: { state: string }) => m.state), ['ready']);
    } finally {
      release();
      await server.close();
    }
  });

  it('answers /healthz while a slow inference is running in a worker', async () => {
    const server = await startServer(
      testConfig(['--model-dir', `slow=${await slowVitDir()}`, '--instances', '1', '--threads', '1', '--max-batch-size', '1']),
      quietLogger(),
    );
    try {
      await server.loaded;
      const batcher = server.registry.get('slow')!.loaded!.components.model!.batcher;
      const order: string[] = [];
      const photo = await readFile(sharedImage('astronaut.png'));
      const classify = request(server.http)
        .post('/v1/classify')
        .attach('image', photo, 'a.png')
        .then((res) => {
          order.push('classify');
          return res;
        });
      // Wait until the batch is really running in the worker, then ask for health.
      while (batcher.inFlightBatches === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const health = await request(server.http).get('/healthz');
      order.push('healthz');
      assert.equal(health.status, 200);
      assert.equal((await classify).status, 200);
      assert.deepEqual(order, ['healthz', 'classify'], 'health answered before the inference finished');
    } finally {
      await server.close();
    }
  });
});
