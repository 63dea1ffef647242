/**
 * The server's visual chat against an independent implementation: transformers.js' Idefics3
 * processor (its own chat template rendering, image-token expansion and tokenizer) and its
 * `generate` (its own splicing of image features, positions and cache), on the same generated
 * model folder, given the same pixels (the two resize photos differently). Greedy answers must
 * be the same tokens.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { chatViewProcessor } from '../../src/models/chat/load-chat-model.js';
import { preprocessImage } from '../../src/models/image/index.js';
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
});
