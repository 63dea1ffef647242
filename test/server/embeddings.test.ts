/** POST /v1/embeddings and gRPC Embed (OpenAI shape) on a generated CLIP, real server. */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

type Item = { object: string; index: number; embedding: number[] | string };
const dot = (a: readonly number[], b: readonly number[]) => a.reduce((sum, v, i) => sum + v * b[i]!, 0);

describe('embeddings on a generated CLIP', () => {
  let server: RunningServer;
  let client: grpc.Client & Record<string, Function>;
  let photoUrl: string;

  before(async () => {
    server = await startTestServer(['--model-dir', `clip=${await tinyClipDir()}`]);
    client = inferenceClient(server.grpcPort);
    photoUrl = `data:image/png;base64,${(await readFile(sharedImage('chelsea.png'))).toString('base64')}`;
  });
  after(async () => {
    client?.close();
    await server?.close();
  });

  it('answers texts and data-URL images in input order, L2-normalised, in the OpenAI shape', async () => {
    const res = await request(server.http).post('/v1/embeddings').send({ input: ['a photo of a cat.', photoUrl, 'QUJDRA=='], model: 'clip' }).expect(200);
    assert.equal(res.body.object, 'list');
    assert.equal(res.body.model, 'clip');
    const data: Item[] = res.body.data;
    assert.deepEqual(data.map((d) => [d.object, d.index]), [['embedding', 0], ['embedding', 1], ['embedding', 2]]);
    for (const { embedding } of data) assert.ok(Math.abs(dot(embedding as number[], embedding as number[]) - 1) < 1e-5, 'unit norm');
    assert.notDeepEqual(data[2]!.embedding, data[1]!.embedding, 'a bare base64-looking string is text, not an image');
    assert.ok(res.body.usage.prompt_tokens >= 8 && res.body.usage.total_tokens === res.body.usage.prompt_tokens);

    // The same space zero-shot scores in: text·image equals the label's cosine (multi_label).
    const zeroShot = await request(server.http).post('/v1/zero-shot').send({ image: photoUrl, labels: ['cat'], multi_label: true }).expect(200);
    assert.ok(Math.abs(dot(data[0]!.embedding as number[], data[1]!.embedding as number[]) - zeroShot.body.predictions[0].score) < 1e-5);
  });

  it('packs vectors as base64 float32 on request, and takes a single string', async () => {
    const floats = await request(server.http).post('/v1/embeddings').send({ input: 'a dog' }).expect(200);
    const packed = await request(server.http).post('/v1/embeddings').send({ input: 'a dog', encoding_format: 'base64' }).expect(200);
    const bytes = Buffer.from(packed.body.data[0].embedding as string, 'base64');
    const decoded = Array.from(new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4));
    assert.deepEqual(decoded, floats.body.data[0].embedding);
  });

  it('gives the same vectors over gRPC', async () => {
    const http = await request(server.http).post('/v1/embeddings').send({ input: ['a bird', photoUrl] }).expect(200);
    const viaGrpc = await unary(client, 'Embed', { input: ['a bird', photoUrl] });
    viaGrpc.data.forEach((item: { embedding: number[] }, i: number) => {
      const expected = http.body.data[i].embedding as number[];
      assert.equal(item.embedding.length, expected.length);
      item.embedding.forEach((v, j) => assert.ok(Math.abs(v - expected[j]!) < 1e-6));
    });
  });

  it('refuses bad input with the table’s error', async () => {
    assert.equal((await request(server.http).post('/v1/embeddings').send({ input: [] })).status, 400);
    assert.equal((await request(server.http).post('/v1/embeddings').send({ input: 'x', encoding_format: 'int8' })).status, 400);
    const notJson = await request(server.http).post('/v1/embeddings').set('Content-Type', 'image/png').send(Buffer.from('abc'));
    assert.equal(notJson.status, 415);
    const badImage = await request(server.http).post('/v1/embeddings').send({ input: ['data:image/png;base64,AAAA'] });
    assert.equal(badImage.status, 400);
    assert.equal(badImage.body.error.code, 'invalid_image');
    const tooMany = await request(server.http).post('/v1/embeddings').send({ input: Array(17).fill(photoUrl) });
    assert.equal(tooMany.status, 400);
    assert.match(tooMany.body.error.message, /17 images in one request; at most 16/);
    const dataText = await request(server.http).post('/v1/embeddings').send({ input: ['data: 42 rows'] }).expect(200);
    assert.equal(dataText.body.data.length, 1, 'a text that starts with "data:" is text');
    const metrics = (await request(server.http).get('/metrics')).text;
    assert.match(metrics, /^mms_requests_total\{model="clip",variant="fp32",task="embeddings",transport="http",code="ok"\} \d+$/m);
  });
});
