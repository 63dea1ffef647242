/**
 * The server's visual chat against an independent implementation: transformers.js' Idefics3
 * processor (its own chat template rendering, image-token expansion and tokenizer) and its
 * `generate` (its own splicing of image features, positions and cache), on the same generated
 * model folder, given the same pixels (the two resize photos differently). Greedy answers must
 * be the same tokens, with one view per image and with image splitting.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { chatViewProcessor } from '../../src/models/chat/load-chat-model.js';
import { decodeImage, preprocessImage } from '../../src/models/image/index.js';
import { splitIntoViews } from '../../src/models/image/image-views.js';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinySmolVlmDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const TOKENS = 12;

describe('visual chat against transformers.js', () => {
  let server: RunningServer;
  let dir: string;
  before(async () => {
    dir = await tinySmolVlmDir();
    server = await startTestServer(['--model-dir', `chat=${dir}`]);
  });
  after(() => server?.close());

  it('answers with the tokens transformers.js generates for the same conversation and pixels', async () => {
    const { AutoModelForVision2Seq, AutoProcessor, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(dir);
    const processor = await AutoProcessor.from_pretrained(path.basename(dir));
    const model = await AutoModelForVision2Seq.from_pretrained(path.basename(dir), { dtype: 'fp32' });
    try {
      for (const [photo, question] of [['chelsea.png', 'What is in this picture?'], ['rocket.jpg', 'Describe it.']] as const) {
        const bytes = await readFile(sharedImage(photo));
        const { image, viewSize } = await chatViewProcessor(dir);
        const { pixelValues } = await preprocessImage(new Uint8Array(bytes), image, { maxPixels: 5e7 });
        const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: question }] }] as never, { add_generation_prompt: true }) as string;
        // Their processor for the text and image tokens; our pixels in place of theirs.
        const blank = new (await import('@huggingface/transformers')).RawImage(new Uint8ClampedArray(viewSize * viewSize * 3), viewSize, viewSize, 3);
        const inputs = await processor(text, [blank], { do_image_splitting: false });
        inputs.pixel_values = new Tensor('float32', pixelValues, [1, 1, 3, viewSize, viewSize]);
        const output = (await model.generate({ ...inputs, max_new_tokens: TOKENS, min_new_tokens: TOKENS, do_sample: false } as never)) as { tolist(): bigint[][] };
        const promptLength = (inputs.input_ids as { dims: number[] }).dims[1]!;
        const generated = output.tolist()[0]!.slice(promptLength).map(Number);
        const theirs = (processor.tokenizer!.decode(generated, { skip_special_tokens: true }) as string).trimStart();

        const messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${bytes.toString('base64')}` } }, { type: 'text', text: question }] }];
        const ours = await request(server.http).post('/v1/chat/completions').send({ messages, max_tokens: TOKENS, min_tokens: TOKENS }).expect(200);
        assert.equal(ours.body.usage.prompt_tokens, promptLength, `${photo}: the same prompt length (template, image tokens)`);
        assert.ok(theirs.length > 0, 'a non-empty answer');
        assert.equal(ours.body.choices[0].message.content, theirs, `${photo}: the same greedy answer`);
      }
    } finally {
      await model.dispose();
    }
  });

  it('splits an image into the tiles and prompt transformers.js makes, and answers with its tokens', async () => {
    const { AutoModelForVision2Seq, AutoProcessor, RawImage, Tensor, env } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.localModelPath = path.dirname(dir);
    const work = await mkdtemp(path.join(os.tmpdir(), 'mms-chat-split-'));
    const config = path.join(work, 'server.json');
    await writeFile(config, JSON.stringify({ models: [{ id: 'split', dir, image_splitting: true }] }));
    const splitting = await startTestServer(['--config', config]);
    const processor = await AutoProcessor.from_pretrained(path.basename(dir));
    const model = await AutoModelForVision2Seq.from_pretrained(path.basename(dir), { dtype: 'fp32' });
    try {
      const listed = (await request(splitting.http).get('/v1/models').expect(200)).body.data[0];
      assert.equal(listed.image_splitting, true);
      const bytes = await readFile(sharedImage('chelsea.png'));
      const { image, viewSize, splitLongestEdge } = await chatViewProcessor(dir);
      const views = await splitIntoViews(await decodeImage(new Uint8Array(bytes), { maxPixels: 5e7 }), image, { longestEdge: splitLongestEdge!, viewSize });
      const text = processor.apply_chat_template([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is this?' }] }] as never, { add_generation_prompt: true }) as string;
      // Their processor splits the photo itself (the grid and the prompt); our pixels in place of theirs.
      const inputs = await processor(text, [await RawImage.fromBlob(new Blob([bytes], { type: 'image/png' }))], { do_image_splitting: true });
      assert.deepEqual((inputs.pixel_values as { dims: number[] }).dims, [1, views.views, 3, viewSize, viewSize], 'the same number of views');
      inputs.pixel_values = new Tensor('float32', views.pixelValues, [1, views.views, 3, viewSize, viewSize]);
      const output = (await model.generate({ ...inputs, max_new_tokens: TOKENS, min_new_tokens: TOKENS, do_sample: false } as never)) as { tolist(): bigint[][] };
      const promptLength = (inputs.input_ids as { dims: number[] }).dims[1]!;
      const theirs = (processor.tokenizer!.decode(output.tolist()[0]!.slice(promptLength).map(Number), { skip_special_tokens: true }) as string).trimStart();
      const messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${bytes.toString('base64')}` } }, { type: 'text', text: 'What is this?' }] }];
      const ours = await request(splitting.http).post('/v1/chat/completions').send({ messages, max_tokens: TOKENS, min_tokens: TOKENS }).expect(200);
      assert.equal(ours.body.usage.prompt_tokens, promptLength, 'the same prompt: tiles by row and column, then the global view');
      assert.ok(theirs.length > 0);
      assert.equal(ours.body.choices[0].message.content, theirs);
    } finally {
      await model.dispose();
      await splitting.close();
      await rm(work, { recursive: true, force: true });
    }
  });
});
