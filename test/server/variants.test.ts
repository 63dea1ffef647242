/**
 * One model served in two dtypes side by side (`id` and `id:q8`), each with its own sessions,
 * batcher and metrics, named the way transformers.js names the files and Ollama the tags.
 */
import assert from 'node:assert/strict';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

describe('dtype tags', () => {
  let work: string;
  let server: RunningServer;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-variants-'));
    const dir = path.join(work, 'vit');
    // The generated folder has `model.onnx` and the q8 variant `model_quantized.onnx` beside it.
    await cp(await tinyVitDir(), dir, { recursive: true });
    // A folder with only the q8 graph: nothing to compare it with.
    await mkdir(path.join(work, 'q8-only', 'onnx'), { recursive: true });
    for (const file of ['config.json', 'preprocessor_config.json', 'onnx/model_quantized.onnx']) await cp(path.join(dir, file), path.join(work, 'q8-only', file));
    const config = path.join(work, 'server.json');
    await writeFile(config, JSON.stringify({ models: [{ dir: 'vit' }, { dir: 'vit', variant: 'quantized' }, { dir: 'vit', variant: 'fp16' }, { dir: 'q8-only', variant: 'q8' }] }));
    server = await startTestServer(['--config', config, '--cache-dir', path.join(work, 'cache')]);
  });
  after(async () => {
    await server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('serves id and id:q8 side by side, listed with their tags', async () => {
    const listed = await request(server.http).get('/v1/models').expect(200);
    assert.deepEqual(
      listed.body.data.map((m: { id: string; variant: string; state: string }) => [m.id, m.variant, m.state]),
      [
        ['vit', 'fp32', 'ready'],
        ['vit:q8', 'q8', 'ready'],
        ['vit:fp16', 'fp16', 'ready'],
        ['q8-only:q8', 'q8', 'ready'],
      ],
    );
  });

  it('compares each variant with its fp32 graph after loading, and says so in /v1/models', async (t) => {
    const agreementOf = async (id: string) => {
      for (let i = 0; i < 200; i++) {
        const listed = await request(server.http).get('/v1/models').expect(200);
        const model = listed.body.data.find((m: { id: string }) => m.id === id);
        if (model.agreement?.status !== 'measuring' && model.agreement !== undefined) return model.agreement;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      throw new Error(`${id}: still measuring`);
    };
    const q8 = await agreementOf('vit:q8');
    t.diagnostic(JSON.stringify(q8));
    assert.equal(q8.status, 'measured');
    assert.equal(q8.inputs, 8);
    const [session] = q8.sessions;
    assert.equal(session.session, 'model');
    assert.equal(session.output, 'logits');
    assert.ok(session.cosine_min >= 0.99, `q8 logits follow fp32 (cosine ${session.cosine_min})`);
    assert.ok(session.top1 >= 0.75 && session.top5 >= 0.75);
    const alone = await agreementOf('q8-only:q8');
    assert.equal(alone.status, 'unknown');
    assert.match(alone.reason, /no fp32 ONNX graph/);
    const listed = await request(server.http).get('/v1/models').expect(200);
    const [fp32, tagged] = ['vit', 'vit:q8'].map((id) => listed.body.data.find((m: { id: string }) => m.id === id));
    assert.equal(fp32.agreement, undefined, 'fp32 is the reference');
    assert.deepEqual(fp32.files.map((f: { name: string }) => f.name), ['onnx/model.onnx']);
    assert.deepEqual(tagged.files.map((f: { name: string }) => f.name), ['onnx/model_quantized.onnx']);
    assert.ok(tagged.size_bytes < fp32.size_bytes, `q8 is smaller on disk (${tagged.size_bytes} vs ${fp32.size_bytes} bytes)`);
  });

  it('routes a request by tag and counts it under the model and its variant', async () => {
    const photo = (await readFile(sharedImage('chelsea.png'))).toString('base64');
    const tagged = await request(server.http).post('/v1/classify').send({ image: photo, model: 'vit:q8' }).expect(200);
    assert.equal(tagged.body.model, 'vit:q8');
    const plain = await request(server.http).post('/v1/classify').send({ image: photo, model: 'vit' }).expect(200);
    const ranking = (body: { predictions: { index: number }[] }) => body.predictions.map((p) => p.index);
    assert.deepEqual(ranking(tagged.body), ranking(plain.body), 'q8 ranks the labels as fp32 does on this photo');
    assert.notDeepEqual(plain.body.predictions, tagged.body.predictions, 'two graphs: the scores differ a little');
    // Measured: 0.694 vs 0.714 for the top label (softmax amplifies q8's logit error, cosine 0.9997).
    assert.ok(Math.abs(plain.body.predictions[0].score - tagged.body.predictions[0].score) < 0.05);
    const metrics = (await request(server.http).get('/metrics')).text;
    assert.match(metrics, /^mms_items_processed_total\{model="vit",component="model",variant="q8"\} 1$/m);
    assert.match(metrics, /^mms_requests_total\{model="vit",variant="q8",task="image-classification",transport="http",code="ok"\} 1$/m);
    assert.match(metrics, /^mms_model_ready\{model="vit",variant="fp32"\} 1$/m);
    const unknownTag = await request(server.http).post('/v1/classify').send({ image: photo, model: 'vit:q4' }).expect(404);
    assert.match(unknownTag.body.error.message, /served: vit, vit:q8, vit:fp16/);
  });

  it('fp16: classifies and draws attention maps (its float16 attention comes back as float32) as fp32 does', async () => {
    const photo = (await readFile(sharedImage('coffee.png'))).toString('base64');
    const answers = await Promise.all(
      ['vit', 'vit:fp16'].map(async (model) => {
        const classified = await request(server.http).post('/v1/classify').send({ image: photo, model }).expect(200);
        const attention = await request(server.http).post('/v1/attention').send({ image: photo, model, format: 'json', method: 'rollout' }).expect(200);
        return { predictions: classified.body.predictions as { index: number; score: number }[], map: (attention.body.maps[0].values as number[][]).flat() };
      }),
    );
    const [fp32, fp16] = answers as [(typeof answers)[0], (typeof answers)[0]];
    assert.deepEqual(fp16.predictions.map((p) => p.index), fp32.predictions.map((p) => p.index));
    assert.ok(Math.abs(fp16.predictions[0]!.score - fp32.predictions[0]!.score) < 0.005);
    assert.equal(fp16.map.length, 196);
    const largest = Math.max(...fp16.map.map((v, i) => Math.abs(v - fp32.map[i]!)));
    assert.ok(largest < 0.01 * Math.max(...fp32.map), `rollout maps agree (largest difference ${largest})`);
    const listed = await request(server.http).get('/v1/models').expect(200);
    const half = listed.body.data.find((m: { id: string }) => m.id === 'vit:fp16');
    assert.deepEqual(half.files.map((f: { name: string }) => f.name), ['onnx/model_fp16.onnx']);
  });
});

describe('the default dtype with a GPU provider first', () => {
  it('serves the bare id in fp16 (on CPU here: the CUDA provider is not installed), and fp32 where a folder has no fp16 files', async () => {
    const work = await mkdtemp(path.join(os.tmpdir(), 'mms-gpu-default-'));
    const vit = await tinyVitDir();
    const noFp16 = path.join(work, 'no-fp16');
    await mkdir(path.join(noFp16, 'onnx'), { recursive: true });
    for (const file of ['config.json', 'preprocessor_config.json', 'onnx/model.onnx']) await cp(path.join(vit, file), path.join(noFp16, file));
    const server = await startTestServer(['--providers', 'cuda,cpu', '--model-dir', `vit=${vit}`, '--model-dir', `plain=${noFp16}`, '--cache-dir', path.join(work, 'cache')]);
    try {
      const listed = (await request(server.http).get('/v1/models').expect(200)).body.data as { id: string; variant: string; state: string; execution_provider: string; files: { name: string }[] }[];
      assert.deepEqual(
        listed.map((m) => [m.id, m.variant, m.state, m.execution_provider, m.files.map((f) => f.name).join()]),
        [
          ['vit', 'fp16', 'ready', 'cpu', 'onnx/model_fp16.onnx'],
          ['plain', 'fp32', 'ready', 'cpu', 'onnx/model.onnx'],
        ],
      );
      const photo = (await readFile(sharedImage('chelsea.png'))).toString('base64');
      const answer = await request(server.http).post('/v1/classify').send({ image: photo, model: 'vit' }).expect(200);
      assert.equal(answer.body.model, 'vit');
      const metrics = (await request(server.http).get('/metrics')).text;
      assert.match(metrics, /^mms_requests_total\{model="vit",variant="fp16",task="image-classification",transport="http",code="ok"\} 1$/m);
    } finally {
      await server.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
