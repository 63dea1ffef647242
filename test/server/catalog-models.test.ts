import assert from 'node:assert/strict';
import { lstat, mkdtemp, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { CatalogEntry } from '../../src/models/catalog/catalog.js';
import { runModelsCli } from '../../src/server/models-cli.js';
import { startServer } from '../../src/server/server.js';
import { startFakeHub, sha256Hex, type FakeHub } from '../helpers/fake-hub.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { quietLogger, testConfig } from '../helpers/test-server.js';

const REPO = 'test-org/tiny-vit';
const COMMIT = 'c0ffee0000000000000000000000000000000001';
/** A repo that ships the fp32 graph and its q8 variant beside it. */
const VARIANTS_REPO = 'test-org/tiny-vit-variants';

function catalogEntry(): CatalogEntry {
  return {
    id: 'tiny-vit',
    task: 'image-classification',
    family: 'vit',
    repo: REPO,
    revision: 'main',
    unverified: ['revision', 'sha256'],
    files: [
      { path: 'config.json', sha256: null },
      { path: 'preprocessor_config.json', sha256: null },
    ],
    variants: { fp32: [{ path: 'onnx/model.onnx', sha256: null }], q8: [{ path: 'onnx/model_quantized.onnx', sha256: null }] },
    defaults: { max_batch_size: 4 },
  };
}

describe('catalog models from the Hugging Face cache', () => {
  let hub: FakeHub;
  let work: string;
  let modelBytes: Buffer;
  const outputOf = () => {
    let text = '';
    return { out: { write: (chunk: string) => (text += chunk) }, text: () => text };
  };

  before(async () => {
    const dir = await tinyVitDir();
    modelBytes = await readFile(path.join(dir, 'onnx', 'model.onnx'));
    hub = await startFakeHub([
      {
        repo: REPO,
        commit: COMMIT,
        files: {
          'config.json': { content: await readFile(path.join(dir, 'config.json')) },
          'preprocessor_config.json': { content: await readFile(path.join(dir, 'preprocessor_config.json')) },
          'onnx/model.onnx': { content: modelBytes, lfs: true },
        },
      },
      {
        repo: VARIANTS_REPO,
        commit: COMMIT,
        files: {
          'config.json': { content: await readFile(path.join(dir, 'config.json')) },
          'preprocessor_config.json': { content: await readFile(path.join(dir, 'preprocessor_config.json')) },
          'onnx/model.onnx': { content: modelBytes, lfs: true },
          'onnx/model_quantized.onnx': { content: await readFile(path.join(dir, 'onnx', 'model_quantized.onnx')), lfs: true },
        },
      },
    ]);
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-catalog-'));
  });
  after(async () => {
    await hub.close();
    await rm(work, { recursive: true, force: true });
  });

  const env = (cache: string) => ({ HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: path.join(work, cache) });

  it('without --pull, serves what it has and names the command that fetches the missing model', async () => {
    const config = testConfig(['--model', 'tiny-vit', '--model-dir', `here=${await tinyVitDir()}`]);
    const server = await startServer({ ...config, hub: { ...config.hub, ...{ cacheDir: path.join(work, 'empty'), endpoint: hub.endpoint } } }, quietLogger(), {
      catalog: [catalogEntry()],
    });
    try {
      await server.loaded;
      assert.equal(hub.requests.length, 0, 'start-up never downloads without --pull');
      const ready = await request(server.http).get('/readyz').expect(200);
      const missing = ready.body.models.find((m: { id: string }) => m.id === 'tiny-vit');
      assert.equal(missing.state, 'missing');
      assert.match(missing.error, /npm run models -- pull tiny-vit/);
      const photo = (await readFile(sharedImage('chelsea.png'))).toString('base64');
      const res = await request(server.http).post('/v1/classify').send({ image: photo, model: 'tiny-vit' }).expect(503);
      assert.match(res.body.error.message, /npm run models -- pull tiny-vit/);
      await request(server.http).post('/v1/classify').send({ image: photo }).expect(200);
    } finally {
      await server.close();
    }
  });

  it('with --pull, downloads into the HF cache layout and serves the model with the manifest defaults', async () => {
    const config = testConfig(['--model', 'tiny-vit', '--pull']);
    const cacheDir = path.join(work, 'pulled');
    const server = await startServer({ ...config, hub: { cacheDir, endpoint: hub.endpoint, token: undefined } }, quietLogger(), {
      catalog: [catalogEntry()],
    });
    try {
      await server.loaded;
      const models = await request(server.http).get('/v1/models').expect(200);
      assert.equal(models.body.data[0].state, 'ready');
      assert.equal(models.body.data[0].batching.max_batch_size, 4, 'batching default from the manifest');
      const res = await request(server.http).post('/v1/classify').attach('image', await readFile(sharedImage('coffee.png')), 'c.png').expect(200);
      assert.equal(res.body.model, 'tiny-vit');
      // The layout other HF tools read.
      const repoDir = path.join(cacheDir, 'models--test-org--tiny-vit');
      assert.equal(await readFile(path.join(repoDir, 'refs', 'main'), 'utf8'), COMMIT);
      const pointer = path.join(repoDir, 'snapshots', COMMIT, 'onnx', 'model.onnx');
      assert.ok((await lstat(pointer)).isSymbolicLink(), 'snapshot files are symlinks');
      assert.equal(await readlink(pointer), `../../../blobs/${sha256Hex(modelBytes)}`);
      assert.ok((await readFile(pointer)).equals(modelBytes), 'the blob holds the model bytes');
    } finally {
      await server.close();
    }
  });

  it('with --pull while offline, says so and serves the other models', async () => {
    const config = testConfig(['--model', 'tiny-vit', '--model-dir', `here=${await tinyVitDir()}`, '--pull']);
    const server = await startServer(
      { ...config, hub: { cacheDir: path.join(work, 'offline'), endpoint: 'http://127.0.0.1:9', token: undefined } },
      quietLogger(),
      { catalog: [catalogEntry()] },
    );
    try {
      await server.loaded;
      const ready = await request(server.http).get('/readyz').expect(200);
      const missing = ready.body.models.find((m: { id: string }) => m.id === 'tiny-vit');
      assert.equal(missing.state, 'missing');
      assert.match(missing.error, /could not be pulled: cannot reach http:\/\/127.0.0.1:9: are you offline\?/);
    } finally {
      await server.close();
    }
  });

  it('npm run models: pull, list, verify --write, rm', async () => {
    const catalogFile = path.join(work, 'catalog.json');
    await writeFile(catalogFile, JSON.stringify({ models: [catalogEntry()] }));
    const cacheEnv = env('cli');

    const pulled = outputOf();
    assert.equal(await runModelsCli(['pull', 'tiny-vit', '--catalog', catalogFile], cacheEnv, pulled.out), 0);
    assert.match(pulled.text(), /warning: revision 'main' is not pinned/);
    assert.match(pulled.text(), /serve it with: npm start -- --model tiny-vit/);

    const listed = outputOf();
    await runModelsCli(['list', '--catalog', catalogFile], cacheEnv, listed.out);
    assert.match(listed.text(), /tiny-vit .* \(fp32: cached, q8: not pulled\)/);

    const verified = outputOf();
    await runModelsCli(['verify', 'tiny-vit', '--write', '--catalog', catalogFile], cacheEnv, verified.out);
    assert.match(verified.text(), new RegExp(`is commit ${COMMIT}`));
    assert.match(verified.text(), /onnx\/model_quantized.onnx: not in the repo/);
    const pinned = JSON.parse(await readFile(catalogFile, 'utf8')).models[0];
    assert.equal(pinned.revision, COMMIT);
    assert.deepEqual(pinned.unverified, []);
    assert.deepEqual(Object.keys(pinned.variants), ['fp32'], 'variants the repo does not ship are dropped');
    assert.equal(pinned.variants.fp32[0].sha256, sha256Hex(modelBytes));
    assert.equal(pinned.files[0].sha256, sha256Hex(await readFile(path.join(await tinyVitDir(), 'config.json'))));

    const again = outputOf();
    assert.equal(await runModelsCli(['pull', 'tiny-vit', '--catalog', catalogFile], cacheEnv, again.out), 0);
    assert.doesNotMatch(again.text(), /not pinned/, 'a pinned revision pulls without the warning');

    const removed = outputOf();
    await runModelsCli(['rm', 'tiny-vit', '--catalog', catalogFile], cacheEnv, removed.out);
    assert.match(removed.text(), /removed test-org\/tiny-vit/);
    const after = outputOf();
    await runModelsCli(['list', '--catalog', catalogFile], cacheEnv, after.out);
    assert.match(after.text(), /fp32: not pulled/);
  });

  it('pulls only the files of the variant asked for, and serves it as id:tag', async () => {
    const entry = { ...catalogEntry(), id: 'tiny-vit-variants', repo: VARIANTS_REPO };
    const catalogFile = path.join(work, 'variants-catalog.json');
    await writeFile(catalogFile, JSON.stringify({ models: [entry] }));
    const cacheEnv = env('variants');
    hub.requests.length = 0;
    const pulled = outputOf();
    assert.equal(await runModelsCli(['pull', 'tiny-vit-variants', '--variant', 'q8', '--catalog', catalogFile], cacheEnv, pulled.out), 0);
    assert.match(pulled.text(), /serve it with: npm start -- --model tiny-vit-variants:q8/);
    const fetched = new Set(hub.requests.filter((r) => r.method === 'GET' && r.file).map((r) => r.file!.split(':')[1]));
    assert.deepEqual([...fetched].sort(), ['config.json', 'onnx/model_quantized.onnx', 'preprocessor_config.json'], 'the fp32 graph is not fetched');

    const config = testConfig(['--model', 'tiny-vit-variants:q8']);
    const server = await startServer({ ...config, hub: { ...config.hub, cacheDir: cacheEnv.HF_HUB_CACHE, endpoint: hub.endpoint } }, quietLogger(), { catalog: [entry] });
    try {
      await server.loaded;
      const [model] = (await request(server.http).get('/v1/models').expect(200)).body.data;
      assert.deepEqual([model.id, model.state, model.files.map((f: { name: string }) => f.name)], ['tiny-vit-variants:q8', 'ready', ['onnx/model_quantized.onnx']]);
      const res = await request(server.http).post('/v1/classify').field('model', 'tiny-vit-variants:q8').attach('image', await readFile(sharedImage('coffee.png')), 'c.png').expect(200);
      assert.equal(res.body.model, 'tiny-vit-variants:q8');
    } finally {
      await server.close();
    }
  });

  it('a tag the repo does not ship is an error naming the ones it does', async () => {
    const catalogFile = path.join(work, 'catalog-fp16.json');
    await writeFile(catalogFile, JSON.stringify({ models: [catalogEntry()] }));
    await assert.rejects(runModelsCli(['pull', 'tiny-vit', '--variant', 'fp16', '--catalog', catalogFile], env('fp16'), outputOf().out), /tiny-vit has no 'fp16' variant \(it has: fp32, q8\)/);
    const config = testConfig(['--model', 'tiny-vit:fp16']);
    await assert.rejects(
      startServer({ ...config, hub: { ...config.hub, cacheDir: path.join(work, 'fp16'), endpoint: hub.endpoint } }, quietLogger(), { catalog: [catalogEntry()] }),
      /tiny-vit has no 'fp16' variant \(it has: fp32, q8\)/,
    );
  });

  it('the shipped catalog parses and names real repos, marking what is unverified', async () => {
    const { loadCatalog } = await import('../../src/models/catalog/catalog.js');
    const catalog = await loadCatalog();
    const vit = catalog.find((e) => e.id === 'vit-base-patch16-224');
    assert.ok(vit, 'the ViT-B/16 entry is there');
    assert.equal(vit.repo, 'Xenova/vit-base-patch16-224');
    assert.ok(vit.revision !== 'main' || vit.unverified.includes('revision'), 'an unpinned revision is marked unverified');
  });
});
