import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { startTestServer } from '../helpers/test-server.js';

const DEBIAN_PYTHON = '/usr/bin/python3';
const script = path.join(import.meta.dirname, '..', 'fixtures', 'export_torch_vit.py');

describe('a ViT exported by PyTorch (not by our generator)', () => {
  let dir: string;
  let torchProbabilities: number[];
  let server: RunningServer;

  before(async () => {
    if (!existsSync(DEBIAN_PYTHON)) throw new Error(`${DEBIAN_PYTHON} is missing: run npm run setup`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-torch-vit-'));
    const { stdout } = await promisify(execFile)(DEBIAN_PYTHON, [script, dir, sharedImage('chelsea.png')]).catch((error: Error) => {
      throw new Error(`exporting with torch failed (python3-torch comes with npm run setup): ${error.message}`);
    });
    torchProbabilities = JSON.parse(stdout).probabilities;
    server = await startTestServer(['--model-dir', `torch-vit=${dir}`]);
  });
  after(async () => {
    await server?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('is served unchanged and agrees with torch on a real photo', async (t) => {
    const res = await request(server.http)
      .post('/v1/classify')
      .attach('image', await readFile(sharedImage('chelsea.png')), 'chelsea.png')
      .field('top_k', String(torchProbabilities.length))
      .expect(200);
    assert.equal(res.body.model, 'torch-vit');
    assert.equal(res.body.random_weights, false, 'only our generator marks models as random');
    const torchTop = torchProbabilities.indexOf(Math.max(...torchProbabilities));
    assert.equal(res.body.predictions[0].index, torchTop);
    assert.equal(res.body.predictions[0].label, `torch class ${torchTop}`);
    let maxDiff = 0;
    for (const p of res.body.predictions as { index: number; score: number }[]) {
      maxDiff = Math.max(maxDiff, Math.abs(p.score - torchProbabilities[p.index]!));
    }
    t.diagnostic(`max |server - torch| probability difference: ${maxDiff.toFixed(4)} (PIL vs sharp resize)`);
    assert.ok(maxDiff < 0.03, `probabilities differ by ${maxDiff}`);
  });

  it('serves attention maps: its Softmax and layer outputs found by scope (/blocks.N/), grid from the token count', async () => {
    const chelsea = await readFile(sharedImage('chelsea.png'));
    const models = await request(server.http).get('/v1/models').expect(200);
    const info = models.body.data[0].attention;
    assert.deepEqual(info, { layers: 2, heads: 4, grid: { rows: 7, cols: 7, patch_size: 32, special_tokens: 1 }, similarity_layers: [0, 1] });
    for (const method of ['cls', 'rollout', 'similarity']) {
      const res = await request(server.http).post('/v1/attention').field('method', method).field('format', 'json').attach('image', chelsea, 'c.png').expect(200);
      assert.equal(res.body.maps[0].values.flat().length, 49, method);
    }
  });
});
