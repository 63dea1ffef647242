/**
 * A visual chat's prompt: SmolVLM-Instruct's chat template rendered from each place a model
 * folder may keep it, image placeholders expanded the way Idefics3's processor expands them (one
 * view, or tiles and a global view), and image features written over exactly the image tokens'
 * embeddings.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { loadChatTemplate } from '../../src/models/chat/chat-template.js';
import { expandImagePlaceholders, spliceImageFeatures, type ImagePromptTokens } from '../../src/models/chat/image-tokens.js';

/** SmolVLM-Instruct's template (tokenizer_config.json of HuggingFaceTB/SmolVLM-256M-Instruct). */
const SMOLVLM_TEMPLATE =
  "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

const CONVERSATION = [
  { role: 'system', content: [{ type: 'text' as const, text: 'Be brief.' }] },
  { role: 'user', content: [{ type: 'image' as const }, { type: 'text' as const, text: 'What is this?' }] },
  { role: 'assistant', content: [{ type: 'text' as const, text: 'A cat.' }] },
  { role: 'user', content: [{ type: 'text' as const, text: 'What colour?' }] },
];
const RENDERED = '<|im_start|>System: Be brief.<end_of_utterance>\nUser:<image>What is this?<end_of_utterance>\nAssistant: A cat.<end_of_utterance>\nUser: What colour?<end_of_utterance>\nAssistant:';

describe('chat prompt', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-chat-template-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('renders the template from tokenizer_config.json as transformers renders it', async () => {
    const template = await loadChatTemplate(dir, { chat_template: SMOLVLM_TEMPLATE });
    assert.equal(template.source, 'tokenizer_config.json');
    assert.equal(template.render(CONVERSATION), RENDERED);
  });

  it('finds the template in chat_template.jinja, then chat_template.json, and passes special tokens as variables', async () => {
    await writeFile(path.join(dir, 'chat_template.json'), JSON.stringify({ chat_template: '{{ bos_token }}{{ messages[0].content[0].text }}' }));
    const fromJson = await loadChatTemplate(dir, { bos_token: { content: '<s>', __type: 'AddedToken' } });
    assert.equal(fromJson.source, 'chat_template.json');
    assert.equal(fromJson.render([{ role: 'user', content: [{ type: 'text', text: 'hi' }] }]), '<s>hi');
    await writeFile(path.join(dir, 'chat_template.jinja'), SMOLVLM_TEMPLATE);
    const fromJinja = await loadChatTemplate(dir, {});
    assert.equal(fromJinja.source, 'chat_template.jinja');
    assert.equal(fromJinja.render(CONVERSATION), RENDERED);
  });

  it('refuses a folder without a template, and turns a template\'s raise into a 400', async () => {
    const empty = await mkdtemp(path.join(os.tmpdir(), 'mms-chat-none-'));
    await assert.rejects(loadChatTemplate(empty, {}), /no chat template/);
    await rm(empty, { recursive: true });
    const strict = await loadChatTemplate(dir, { chat_template: "{% if messages[0]['role'] != 'user' %}{{ raise_exception('first message must be the user\\'s') }}{% endif %}ok" });
    assert.throws(() => strict.render([{ role: 'assistant', content: [] }]), (error: unknown) => error instanceof ApiError && error.code === 'invalid_request');
  });

  const tokens: ImagePromptTokens = { image: '<image>', imageId: 7, around: '<fake>', global: '<global>', perView: 3 };

  const oneView = { rows: 0, cols: 0 };

  it('expands each image placeholder into its view of tokens, and counts them against the images', () => {
    assert.equal(expandImagePlaceholders('User:<image>hi<image>', tokens, [oneView, oneView]), 'User:<fake><global><image><image><image><fake>hi<fake><global><image><image><image><fake>');
    assert.throws(() => expandImagePlaceholders('User: say <image>', tokens, []), (error: unknown) => error instanceof ApiError && error.code === 'invalid_request' && /1 image placeholder/.test(error.message));
  });

  it('expands a split image as Idefics3 does: each tile by its row and column, a newline after each row, then the global view', () => {
    const view = '<image><image><image>';
    assert.equal(
      expandImagePlaceholders('U:<image>!', tokens, [{ rows: 2, cols: 2 }]),
      `U:<fake><row_1_col_1>${view}<fake><row_1_col_2>${view}\n<fake><row_2_col_1>${view}<fake><row_2_col_2>${view}\n\n<fake><global>${view}<fake>!`,
    );
  });

  it('writes each image\'s view features over the image tokens\' embeddings, in order, and nothing else', () => {
    const hidden = 2;
    const ids = [1, 7, 7, 7, 2, 7, 7, 7, 7, 7, 7, 3];
    const embeds = new Float32Array(ids.length * hidden).fill(-1);
    // One image of one view, one of two views (3 tokens each).
    const images = [new Float32Array([10, 11, 12, 13, 14, 15]), new Float32Array([20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35])];
    spliceImageFeatures(ids, embeds, images, tokens, hidden);
    assert.deepEqual([...embeds], [-1, -1, 10, 11, 12, 13, 14, 15, -1, -1, 20, 21, 22, 23, 24, 25, 30, 31, 32, 33, 34, 35, -1, -1]);
    assert.throws(() => spliceImageFeatures(ids, embeds, images.slice(1), tokens, hidden), /9 image tokens where the images' features have 6 rows/);
  });
});
