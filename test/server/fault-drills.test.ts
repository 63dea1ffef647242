/**
 * Fault drills (issue: hardening): a model whose graph is corrupt beside good ones, a session that
 * throws for one input of a batch, and a session worker that dies in the middle of a caption and
 * of a chat. Every request gets an answer (the poisoned one, and the ones on the dead worker, an
 * error, in the stream they were reading), the worker is replaced and the next request is served.
 */
import assert from 'node:assert/strict';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import sharp from 'sharp';
import { readEventStream } from '../helpers/event-stream-reader.js';
import { poisonedVitDir } from '../helpers/poisoned-vit.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinySmolVlmDir, tinyVitDir, tinyVitGpt2Dir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

describe('fault drills', () => {
  let server: RunningServer;
  let base: string;
  let broken: string;
  let poisoned: string;
  let photo: Buffer;

  before(async () => {
    broken = await mkdtemp(path.join(os.tmpdir(), 'mms-broken-model-'));
    await cp(await tinyVitDir(), broken, { recursive: true });
    // A graph cut short, as an interrupted copy leaves it.
    const graph = path.join(broken, 'onnx', 'model.onnx');
    await writeFile(graph, (await readFile(graph)).subarray(0, 2000));
    poisoned = await poisonedVitDir();
    server = await startTestServer([
      '--model-dir', `vit=${await tinyVitDir()}`,
      '--model-dir', `broken=${broken}`,
      '--model-dir', `poisoned=${poisoned}`,
      '--model-dir', `captioner=${await tinyVitGpt2Dir()}`,
      '--model-dir', `chat=${await tinySmolVlmDir()}`,
      '--instances', '1',
      // Requests arriving together wait for each other: the poisoned image runs in a batch.
      '--max-queue-delay-ms', '100',
    ]);
    base = `http://127.0.0.1:${server.httpPort}`;
    photo = await readFile(sharedImage('chelsea.png'));
  });
  after(async () => {
    await server.close();
    await rm(broken, { recursive: true, force: true });
    await rm(poisoned, { recursive: true, force: true });
  });

  it('a model whose graph is corrupt fails alone: the others serve, it answers not_ready on both transports', async () => {
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200);
    const { models } = (await ready.json()) as { models: Array<{ id: string; state: string; error?: string }> };
    const state = (id: string) => models.find((model) => model.id === id)?.state;
    assert.equal(state('broken'), 'failed', JSON.stringify(models));
    assert.equal(state('vit'), 'ready');

    const form = (model: string) => {
      const body = new FormData();
      body.append('image', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'chelsea.png');
      body.append('model', model);
      return body;
    };
    const refused = await fetch(`${base}/v1/classify`, { method: 'POST', body: form('broken') });
    assert.equal(refused.status, 503);
    const { error } = (await refused.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'not_ready');
    assert.match(error.message, /failed to load/);
    assert.equal((await fetch(`${base}/v1/classify`, { method: 'POST', body: form('vit') })).status, 200);

    const client = inferenceClient(server.grpcPort);
    try {
      await assert.rejects(unary(client, 'Classify', { image: photo, model: 'broken' }), (e: { code: number; metadata: { get(k: string): unknown[] } }) => {
        assert.equal(e.code, 14); // UNAVAILABLE
        assert.deepEqual(e.metadata.get('error-code'), ['not_ready']);
        return true;
      });
      assert.ok((await unary(client, 'Classify', { image: photo, model: 'vit' })).predictions.length > 0);
    } finally {
      client.close();
    }
  });

  it('a session that throws for one input fails that request alone: its batch mates are answered', async () => {
    const white = await sharp({ create: { width: 64, height: 64, channels: 3, background: '#ffffff' } }).png().toBuffer();
    const classify = (image: Buffer) => {
      const body = new FormData();
      body.append('image', new Blob([new Uint8Array(image)], { type: 'image/png' }), 'image.png');
      body.append('model', 'poisoned');
      return fetch(`${base}/v1/classify`, { method: 'POST', body });
    };
    /** Batches of the poisoned model that held more than one image, from the batch-size histogram. */
    const batchesOver1 = async () => {
      const lines = (await (await fetch(`${base}/metrics`)).text()).split('\n').filter((line) => line.includes('model="poisoned",component="model"'));
      const value = (prefix: string, label = '') => Number(lines.find((line) => line.startsWith(prefix) && line.includes(label))?.split(' ').pop() ?? 0);
      return value('mms_batch_size_count') - value('mms_batch_size_bucket', 'le="1"');
    };
    const before = await batchesOver1();
    // Arriving together, they run in batches (see --max-queue-delay-ms), the white one among them.
    const answers = await Promise.all([photo, photo, photo, white, photo, photo].map(classify));
    const statuses = answers.map((answer) => answer.status);
    assert.deepEqual(statuses, [200, 200, 200, 500, 200, 200]);
    const { error } = (await answers[3]!.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'internal');
    assert.ok((await batchesOver1()) > before, 'the white image ran in a batch with others');
    assert.equal((await classify(photo)).status, 200);
    const models = (await (await fetch(`${base}/readyz`)).json()) as { models: Array<{ id: string; state: string }> };
    assert.equal(models.models.find((model) => model.id === 'poisoned')?.state, 'ready');
  });

  /** Two streams on the model's one worker; it dies at the step after their first events. */
  async function crashMidStream(model: string, send: () => Promise<Response>, isEnd: (stream: string) => 'done' | 'error' | undefined) {
    const loaded = server.registry.get(model)!.loaded!;
    const replacements = loaded.pool.replacements;
    let injected = false;
    const inject = () => {
      if (!injected) loaded.pool.injectCrash(0);
      injected = true;
    };
    const streams = await Promise.all(
      [0, 1].map(() => {
        const stream = readEventStream(send());
        void stream.started.then(inject);
        return stream.text;
      }),
    );
    assert.ok(injected, 'the streams started');
    const ends = streams.map(isEnd);
    assert.ok(ends.every((end) => end !== undefined), `every stream ended with done or an error event:\n${streams.join('\n---\n')}`);
    assert.ok(ends.includes('error'), `the stream on the dead worker ended with an error event:\n${streams.join('\n---\n')}`);
    for (let waited = 0; loaded.pool.replacements === replacements && waited < 20_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(loaded.pool.replacements, replacements + 1, 'the worker was replaced');
    // The replacement serves: a whole stream again.
    assert.equal(isEnd(await readEventStream(send()).text), 'done');
  }

  it('a worker that dies mid-caption ends the captions on it with an error event, and the next caption is served', async () => {
    const send = () => {
      const body = new FormData();
      body.append('image', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'chelsea.png');
      for (const [name, value] of Object.entries({ model: 'captioner', stream: 'true', max_new_tokens: '24', min_new_tokens: '24' })) body.append(name, value);
      return fetch(`${base}/v1/caption`, { method: 'POST', body });
    };
    await crashMidStream('captioner', send, (stream) => (/^event: done$/m.test(stream) ? 'done' : /^event: error\ndata: .*"code":"internal"/m.test(stream) ? 'error' : undefined));
  });

  it('a worker that dies mid-chat ends the chats on it with an error event, and the next chat is served', async () => {
    const send = () =>
      fetch(`${base}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'chat',
          stream: true,
          max_tokens: 24,
          min_tokens: 24,
          messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${photo.toString('base64')}` } }, { type: 'text', text: 'What is it?' }] }],
        }),
      });
    await crashMidStream('chat', send, (stream) => (/^data: \{"error":\{"code":"internal"/m.test(stream) ? 'error' : /^data: \[DONE\]$/m.test(stream) ? 'done' : undefined));
  });
});
