import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import request from 'supertest';
import sharp from 'sharp';
import { bertTokenizerFiles } from '../../src/models/generator/bert-tokenizer.js';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { startTestServer } from '../helpers/test-server.js';

const DEBIAN_PYTHON = '/usr/bin/python3';
const script = path.join(import.meta.dirname, '..', 'fixtures', 'export_torch_blip.py');
const PROMPT = 'a photography of';
const TOKENS = 8;

/** A 384×384 pattern (gradients, a checkerboard, a moiré), so neither PIL nor sharp resizes it: both sides see the same pixels. */
async function patternPng(): Promise<Buffer> {
  const size = 384;
  const rgb = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const at = (y * size + x) * 3;
      rgb[at] = Math.floor((x * 255) / (size - 1));
      rgb[at + 1] = Math.floor((y * 255) / (size - 1));
      rgb[at + 2] = ((Math.floor(x / 48) + Math.floor(y / 48)) % 2) * 200 + ((x * y) % 55);
    }
  }
  return sharp(rgb, { raw: { width: size, height: size, channels: 3 } }).png().toBuffer();
}

describe('a BLIP captioner exported by PyTorch with tools/export-blip.py (not by our generator)', () => {
  let dir: string;
  let server: RunningServer;
  let image: Buffer;
  let tokenizer: Tokenizer;
  let promptIds: number[];
  let torchIds: { unconditional: number[]; conditional: number[] };

  before(async () => {
    if (!existsSync(DEBIAN_PYTHON)) throw new Error(`${DEBIAN_PYTHON} is missing: run npm run setup`);
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-torch-blip-'));
    const files = bertTokenizerFiles();
    const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
    await writeFile(path.join(dir, 'tokenizer.json'), json(files.tokenizer));
    await writeFile(path.join(dir, 'tokenizer_config.json'), json(files.tokenizerConfig));
    await writeFile(path.join(dir, 'special_tokens_map.json'), json(files.specialTokensMap));
    tokenizer = new Tokenizer(files.tokenizer, files.tokenizerConfig);
    promptIds = tokenizer.encode(PROMPT, { add_special_tokens: false }).ids;
    image = await patternPng();
    const photo = path.join(dir, 'pattern.png');
    await writeFile(photo, image);
    const { stdout } = await promisify(execFile)(DEBIAN_PYTHON, [script, dir, photo, JSON.stringify(promptIds)]).catch((error: Error) => {
      throw new Error(`exporting with torch failed (python3-torch comes with npm run setup): ${error.message}`);
    });
    torchIds = JSON.parse(stdout);
    server = await startTestServer(['--model-dir', `torch-blip=${dir}`]);
  });
  after(async () => {
    await server?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const decode = (ids: number[]) => tokenizer.decode(ids, { skip_special_tokens: true });

  it('loads as an image-to-text model with real weights', async () => {
    assert.equal(torchIds.unconditional.length, TOKENS);
    assert.equal(torchIds.conditional.length, TOKENS);
    assert.ok(new Set(torchIds.unconditional).size > 2, `torch's greedy caption is not one token repeated: ${torchIds.unconditional}`);
    const models = await request(server.http).get('/v1/models').expect(200);
    const listed = models.body.data.find((m: { id: string }) => m.id === 'torch-blip');
    assert.ok(listed, `torch-blip is listed: ${JSON.stringify(models.body.data.map((m: { id: string }) => m.id))}`);
    assert.deepEqual([listed.task, listed.family, listed.state], ['image-to-text', 'blip', 'ready']);
  });

  it('captions as torch decodes greedily (without a cache), unconditionally and after a prompt, over HTTP', async () => {
    const plain = (await request(server.http).post('/v1/caption').field('max_new_tokens', String(TOKENS)).field('min_new_tokens', String(TOKENS)).attach('image', image, 'pattern.png').expect(200)).body;
    assert.equal(plain.model, 'torch-blip');
    assert.equal(plain.random_weights, false, 'only our generator marks models as random');
    assert.deepEqual([plain.tokens, plain.finish_reason], [TOKENS, 'length']);
    assert.equal(plain.caption, decode(torchIds.unconditional));

    const prompted = (await request(server.http).post('/v1/caption').send({ image: image.toString('base64'), prompt: PROMPT, max_new_tokens: TOKENS, min_new_tokens: TOKENS }).expect(200)).body;
    assert.equal(prompted.random_weights, false);
    assert.equal(prompted.tokens, TOKENS);
    assert.ok(prompted.caption.startsWith(`${PROMPT} `), prompted.caption);
    assert.equal(prompted.caption, decode([...promptIds, ...torchIds.conditional]));
  });

  it('captions the same over gRPC', async () => {
    const client = inferenceClient(server.grpcPort);
    try {
      const plain = await unary(client, 'Caption', { image, max_new_tokens: TOKENS, min_new_tokens: TOKENS });
      assert.equal(plain.model, 'torch-blip');
      assert.equal(plain.random_weights ?? false, false, 'proto3: false may arrive unset');
      assert.equal(plain.caption, decode(torchIds.unconditional));
      const prompted = await unary(client, 'Caption', { image, prompt: PROMPT, max_new_tokens: TOKENS, min_new_tokens: TOKENS });
      assert.equal(prompted.caption, decode([...promptIds, ...torchIds.conditional]));
    } finally {
      client.close();
    }
  });
});
