/**
 * What `npm run demo` serves: every demo model in fp32 and q8, and its attention overlays and
 * label maps of a real photo, written to test-artifacts/ for people to look at (the demo's
 * weights are random: the pictures show what the server draws and where, not what a trained
 * model sees).
 */
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { demoModels } from '../../src/server/demo-models.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { testCacheDir } from '../helpers/test-models.js';
import { quietLogger, testConfig } from '../helpers/test-server.js';

const artifacts = process.env.MMS_TEST_ARTIFACTS ?? path.join(import.meta.dirname, '..', '..', 'test-artifacts');

describe('the demo server', () => {
  let server: RunningServer;
  let chelsea: Buffer;

  before(async () => {
    // What `npm run demo` serves (main.ts adds the demo models the same way).
    const config = testConfig(['--demo', '--cache-dir', path.join(testCacheDir(), 'demo')]);
    config.models.push(...(await demoModels(config)));
    server = await startServer(config, quietLogger());
    await server.loaded;
    chelsea = await readFile(sharedImage('chelsea.png'));
    await mkdir(artifacts, { recursive: true });
  });
  after(() => server?.close());

  const post = (url: string) =>
    request(server.http)
      .post(url)
      .buffer(true)
      .parse((res, done) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => done(null, Buffer.concat(chunks)));
      });

  it('serves each demo model in fp32 and q8 (`vit-demo:q8`), the captioners and the chat model', async () => {
    const listed = await request(server.http).get('/v1/models').expect(200);
    assert.deepEqual(
      listed.body.data.map((m: { id: string; variant: string; state: string }) => [m.id, m.variant, m.state]),
      [
        ['vit-demo', 'fp32', 'ready'],
        ['clip-demo', 'fp32', 'ready'],
        ['vit-demo:q8', 'q8', 'ready'],
        ['clip-demo:q8', 'q8', 'ready'],
        ['caption-demo', 'fp32', 'ready'],
        ['blip-demo', 'fp32', 'ready'],
        ['chat-demo', 'fp32', 'ready'],
      ],
    );
    const photo = chelsea.toString('base64');
    const [fp32, q8] = await Promise.all(
      ['vit-demo', 'vit-demo:q8'].map((model) => request(server.http).post('/v1/classify').send({ image: photo, model, top_k: 1 }).expect(200)),
    );
    assert.equal(q8!.body.model, 'vit-demo:q8');
    assert.equal(q8!.body.predictions[0].index, fp32!.body.predictions[0].index);
    await request(server.http).post('/v1/zero-shot').send({ image: photo, labels: ['cat', 'dog'], model: 'clip-demo:q8' }).expect(200);
    const caption = await request(server.http).post('/v1/caption').set('Accept', 'text/plain').attach('image', chelsea, 'chelsea.png').expect(200);
    assert.ok(caption.text.length > 1 && caption.text.endsWith('\n'), 'the caption and a newline');
    const blip = await request(server.http).post('/v1/caption').field('model', 'blip-demo').field('prompt', 'a photography of').attach('image', chelsea, 'chelsea.png').expect(200);
    assert.match(blip.body.caption, /^a photography of/);
    const messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${photo}` } }, { type: 'text', text: 'What is this?' }] }];
    const chat = await request(server.http).post('/v1/chat/completions').send({ model: 'chat-demo', messages, max_tokens: 8 }).expect(200);
    assert.ok(chat.body.choices[0].message.content.length > 0);
    assert.ok(chat.body.usage.prompt_tokens > 64, "the demo model's 64 image tokens are in the prompt");
  });

  it('writes the ViT demo overlays of chelsea.png (last-layer CLS attention, rollout, per head)', async () => {
    const photo = await sharp(chelsea).metadata();
    for (const [name, fields] of [
      ['attention-cls', {}],
      ['attention-rollout', { method: 'rollout' }],
      ['attention-heads', { heads: 'all', colormap: 'inferno' }],
    ] as const) {
      let call = post('/v1/attention').field('model', 'vit-demo');
      for (const [key, value] of Object.entries(fields)) call = call.field(key, value);
      const res = await call.attach('image', chelsea, 'chelsea.png').expect(200).expect('content-type', 'image/png');
      const meta = await sharp(res.body as Buffer).metadata();
      if (name !== 'attention-heads') assert.deepEqual([meta.width, meta.height], [photo.width, photo.height]);
      await writeFile(path.join(artifacts, `chelsea-${name}.png`), res.body as Buffer);
    }
  });

  it('writes the CLIP demo label maps of chelsea.png', async () => {
    const res = await post('/v1/zero-shot/localize')
      .field('model', 'clip-demo')
      .field('labels', 'cat')
      .field('labels', 'remote control')
      .attach('image', chelsea, 'chelsea.png')
      .expect(200)
      .expect('content-type', 'image/png');
    await writeFile(path.join(artifacts, 'chelsea-localize.png'), res.body as Buffer);
  });
});
