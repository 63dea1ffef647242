/**
 * `--tune` on the real server: the layout of a model the operator did not fully set is timed
 * before it loads, kept per machine under the cache dir, applied (the pool really has that many
 * workers), and applied again at the next start without timing anything.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { KeptTuning } from '../../src/server/layout-tunings.js';
import { runModelsCli } from '../../src/server/models-cli.js';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

interface ListedModel {
  id: string;
  state: string;
  instances: number;
  intra_op_threads: number;
  layout_source: string;
  batching: { max_batch_size: number };
}

async function listed(server: RunningServer, id: string): Promise<ListedModel> {
  const models = (await request(server.http).get('/v1/models').expect(200)).body.data as ListedModel[];
  return models.find((m) => m.id === id)!;
}

describe('layout tuning in the server', () => {
  let work: string;
  let cacheDir: string;
  let vitDir: string;
  const fast = { tuneSecondsPerCandidate: 0.1 };

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-tune-'));
    cacheDir = path.join(work, 'cache');
    vitDir = await tinyVitDir();
  });
  after(() => rm(work, { recursive: true, force: true }));

  const keptTunings = async () => {
    const folder = path.join(cacheDir, 'tuning');
    const names = await readdir(folder).catch(() => []);
    return Promise.all(names.map(async (name) => JSON.parse(await readFile(path.join(folder, name), 'utf8')) as KeptTuning));
  };

  it('times the layouts with --tune, keeps the winner and serves with it', async () => {
    const server = await startTestServer(['--model-dir', `vit=${vitDir}`, '--tune', '--cache-dir', cacheDir], fast);
    try {
      const [kept, ...others] = await keptTunings();
      assert.ok(kept && others.length === 0, 'one tuning kept');
      assert.equal(kept.result.rows.length, 8, '1x2 and 2x1, batch sizes 1, 2, 4, 8');
      const { best } = kept.result;
      const model = await listed(server, 'vit');
      assert.equal(model.state, 'ready');
      assert.equal(model.layout_source, 'tuned');
      assert.deepEqual([model.instances, model.intra_op_threads, model.batching.max_batch_size], [best.instances, best.intraOpThreads, best.maxBatchSize]);
      assert.equal(server.registry.get('vit')!.loaded!.pool.size, best.instances, 'the pool has the tuned number of workers');
      const photo = await readFile(sharedImage('chelsea.png'));
      await request(server.http).post('/v1/classify').field('model', 'vit').attach('image', photo, 'chelsea.png').expect(200);
    } finally {
      await server.close();
    }
  });

  it('applies the kept tuning at the next start without timing again', async () => {
    const [before] = await keptTunings();
    const server = await startTestServer(['--model-dir', `vit=${vitDir}`, '--cache-dir', cacheDir], fast);
    try {
      const model = await listed(server, 'vit');
      assert.equal(model.layout_source, 'tuned');
      assert.equal(model.instances, before!.result.best.instances);
      const [after, ...others] = await keptTunings();
      assert.equal(others.length, 0);
      assert.equal(after!.measuredAt, before!.measuredAt, 'not measured again');
    } finally {
      await server.close();
    }
  });

  it('keeps what the operator set: a fixed batch size is tuned around, a full layout is not tuned', async () => {
    const partly = await startTestServer(['--model-dir', `vit=${vitDir}`, '--tune', '--max-batch-size', '3', '--cache-dir', cacheDir], fast);
    try {
      const model = await listed(partly, 'vit');
      assert.equal(model.layout_source, 'tuned');
      assert.equal(model.batching.max_batch_size, 3);
      const tunings = await keptTunings();
      assert.equal(tunings.length, 2, 'a second tuning, keyed by what was fixed');
      const fixed = tunings.find((t) => (t.key.fixed as { maxBatchSize?: number }).maxBatchSize === 3)!;
      assert.deepEqual(new Set(fixed.result.rows.map((r) => r.maxBatchSize)), new Set([3]));
    } finally {
      await partly.close();
    }
    const configured = await startTestServer(['--model-dir', `vit=${vitDir}`, '--tune', '--instances', '1', '--threads', '1', '--max-batch-size', '2', '--cache-dir', cacheDir], fast);
    try {
      const model = await listed(configured, 'vit');
      assert.equal(model.layout_source, 'configured');
      assert.deepEqual([model.instances, model.intra_op_threads, model.batching.max_batch_size], [1, 1, 2]);
      assert.equal((await keptTunings()).length, 2, 'nothing timed');
    } finally {
      await configured.close();
    }
  });
});

describe('npm run models -- tune', () => {
  it('times a folder and keeps a tuning the server then applies', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'mms-tune-cli-'));
    try {
      const cacheDir = path.join(work, 'cache');
      const vitDir = await tinyVitDir();
      let printed = '';
      const out = { write: (text: string) => (printed += text) };
      assert.equal(await runModelsCli(['tune', '--dir', vitDir, '--seconds', '0.1', '--cache-dir', cacheDir], {}, out), 0);
      assert.match(printed, /1 x 2 {2}batch 1: [\d.]+ items\/s/);
      assert.match(printed, /2 x 1 {2}batch 8: [\d.]+ items\/s/);
      const kept = printed.match(/(\d) x (\d) {2}batch (\d): .*<- kept/);
      assert.ok(kept, printed);
      const server = await startTestServer(['--model-dir', `vit=${vitDir}`, '--cache-dir', cacheDir]);
      try {
        const model = await listed(server, 'vit');
        assert.equal(model.layout_source, 'tuned');
        assert.deepEqual([model.instances, model.intra_op_threads, model.batching.max_batch_size], kept.slice(1).map(Number));
      } finally {
        await server.close();
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
