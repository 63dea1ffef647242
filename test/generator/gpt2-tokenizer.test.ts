import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import { GPT2_EOS_TOKEN, GPT2_VOCAB_SIZE, gpt2TokenizerFiles } from '../../src/models/generator/gpt2-tokenizer.js';

const SMALL = 1000;
const CAPTIONS = [
  'a cat sitting on a couch',
  'A man riding a horse.',
  'a plate of food on a table',
  "two dogs playing with a frisbee, and a man's hat!",
  'café, naïve — 東京!',
  'emoji 🐱🚀 and tabs\tand\nnewlines  with  double spaces',
  'numbers 12345 and symbols #@$%^&*()[]{}<>~`|\\',
];

/** Writes the generated files the way a model folder holds them and loads them through transformers.js. */
async function loadTokenizer(root: string, vocabSize: number): Promise<PreTrainedTokenizer> {
  const name = `gpt2-${vocabSize}`;
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  const files = gpt2TokenizerFiles({ vocabSize });
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify(files.specialTokensMap));
  return AutoTokenizer.from_pretrained(name);
}

const encode = (tokenizer: PreTrainedTokenizer, text: string): number[] => tokenizer.encode(text);

describe('generated GPT-2 tokenizer', () => {
  let root: string;
  let small: PreTrainedTokenizer;
  let full: PreTrainedTokenizer;

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'gpt2-tokenizer-test-'));
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = root;
    small = await loadTokenizer(root, SMALL);
    full = await loadTokenizer(root, GPT2_VOCAB_SIZE);
  });

  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('the file format is gpt2\'s', () => {
    const { tokenizer, tokenizerConfig, specialTokensMap } = gpt2TokenizerFiles({ vocabSize: SMALL });
    const model = tokenizer.model as { type: string; end_of_word_suffix: string; vocab: Record<string, number>; merges: unknown[] };
    assert.equal(model.type, 'BPE');
    assert.equal(model.end_of_word_suffix, '');
    assert.ok(model.merges.every((m) => typeof m === 'string' && m.split(' ').length === 2), 'merges are "left right" strings');
    assert.equal(model.merges.length, SMALL - 257, 'one merge per non-byte, non-special token, as in gpt2');
    assert.deepEqual(tokenizer.pre_tokenizer, { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true });
    assert.equal((tokenizer.decoder as { type: string }).type, 'ByteLevel');
    assert.equal((tokenizer.post_processor as { type: string }).type, 'ByteLevel');
    assert.deepEqual(tokenizer.added_tokens, [
      { id: SMALL - 1, content: GPT2_EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true },
    ]);
    assert.equal(model.vocab['!'], 0);
    assert.equal(model.vocab['"'], 1);
    assert.equal(model.vocab['Ġ'], 220, 'space is byte-level Ġ at its real id');
    assert.equal(model.vocab[GPT2_EOS_TOKEN], SMALL - 1);
    assert.deepEqual(tokenizerConfig, {
      add_prefix_space: false, bos_token: GPT2_EOS_TOKEN, clean_up_tokenization_spaces: true, eos_token: GPT2_EOS_TOKEN,
      model_max_length: 1024, tokenizer_class: 'GPT2Tokenizer', unk_token: GPT2_EOS_TOKEN,
    });
    assert.equal(specialTokensMap.eos_token, GPT2_EOS_TOKEN);
  });

  test('vocabularies are exactly vocabSize long with contiguous ids', () => {
    for (const vocabSize of [SMALL, GPT2_VOCAB_SIZE]) {
      const files = gpt2TokenizerFiles({ vocabSize });
      assert.equal(files.vocabSize, vocabSize);
      const ids = Object.values((files.tokenizer.model as { vocab: Record<string, number> }).vocab).sort((a, b) => a - b);
      assert.equal(ids.length, vocabSize);
      assert.ok(ids.every((id, i) => id === i), `ids 0..${vocabSize - 1}`);
    }
    assert.equal(small.get_vocab().size, SMALL);
    assert.equal(full.get_vocab().size, GPT2_VOCAB_SIZE);
  });

  test('every merge joins two vocabulary tokens into a vocabulary token (what tokenizers requires)', () => {
    for (const vocabSize of [SMALL, GPT2_VOCAB_SIZE]) {
      const { vocab, merges } = gpt2TokenizerFiles({ vocabSize }).tokenizer.model as { vocab: Record<string, number>; merges: string[] };
      const merged = new Set<string>();
      for (const merge of merges) {
        const [left, right] = merge.split(' ') as [string, string];
        assert.ok(Object.hasOwn(vocab, left) && Object.hasOwn(vocab, right) && Object.hasOwn(vocab, left + right), merge);
        assert.ok(!merged.has(left + right), `${merge} makes a token twice`);
        merged.add(left + right);
      }
    }
  });

  test('captions round-trip exactly, punctuation and non-ASCII included', () => {
    for (const tokenizer of [small, full]) {
      for (const caption of CAPTIONS) {
        const ids = encode(tokenizer, caption);
        assert.ok(ids.length > 0);
        assert.equal(tokenizer.decode(ids), caption);
      }
    }
    // gpt2's clean_up_tokenization_spaces rewrites " ." on decode; without it even that round-trips.
    const spaced = 'a dog . a cat , really ?';
    assert.equal(small.decode(encode(small, spaced), { clean_up_tokenization_spaces: false }), spaced);
  });

  test('no special tokens are added on encode (gpt2 behaviour)', () => {
    assert.ok(!encode(small, 'a cat').includes(SMALL - 1));
  });

  test('the eos is the last id, decodes to <|endoftext|> and is skipped as special', () => {
    for (const [tokenizer, vocabSize] of [[small, SMALL], [full, GPT2_VOCAB_SIZE]] as const) {
      const eos = vocabSize - 1;
      assert.equal(tokenizer.eos_token_id, eos);
      assert.equal(tokenizer.bos_token_id, eos);
      assert.equal(tokenizer.pad_token_id, eos, 'pad falls back to eos');
      assert.equal(tokenizer.decode([eos]), GPT2_EOS_TOKEN);
      assert.deepEqual(encode(tokenizer, GPT2_EOS_TOKEN), [eos]);
      const ids = [...encode(tokenizer, 'a cat sitting on a couch'), eos];
      assert.equal(tokenizer.decode(ids, { skip_special_tokens: true }), 'a cat sitting on a couch');
      assert.equal(tokenizer.decode(ids), `a cat sitting on a couch${GPT2_EOS_TOKEN}`);
    }
  });

  test('common caption words are single space-prefixed tokens', () => {
    for (const tokenizer of [small, full]) {
      for (const word of [' cat', ' dog', ' man', ' sitting', ' table', ' riding', ' horse', ' of', ' a']) {
        const ids = encode(tokenizer, word);
        assert.equal(ids.length, 1, `${JSON.stringify(word)} → ${ids.length} ids`);
        assert.equal(tokenizer.convert_tokens_to_ids(`Ġ${word.slice(1)}`), ids[0]);
      }
      assert.equal(encode(tokenizer, 'a cat sitting on a couch').length, 6);
    }
  });

  test('every id decodes without throwing', () => {
    // A lone id may be part of a UTF-8 sequence (decodes to U+FFFD), but it is never empty.
    for (let id = 0; id < SMALL; id++) assert.ok(small.decode([id]).length > 0, `id ${id}`);
    for (let id = 0; id < GPT2_VOCAB_SIZE; id += 97) assert.ok(full.decode([id]).length > 0, `id ${id}`);
    for (const id of [256, 257, GPT2_VOCAB_SIZE - 3, GPT2_VOCAB_SIZE - 2]) assert.ok(full.decode([id]).length > 0, `id ${id}`);
  });

  test('deterministic: two calls give identical JSON', () => {
    for (const vocabSize of [SMALL, GPT2_VOCAB_SIZE]) {
      assert.equal(JSON.stringify(gpt2TokenizerFiles({ vocabSize })), JSON.stringify(gpt2TokenizerFiles({ vocabSize })));
    }
  });

  test('the real size generates quickly', () => {
    const started = performance.now();
    gpt2TokenizerFiles({ vocabSize: GPT2_VOCAB_SIZE - 1 }); // a size not cached yet
    assert.ok(performance.now() - started < 5000);
  });

  test('rejects sizes with no room for the bytes and eos', () => {
    assert.throws(() => gpt2TokenizerFiles({ vocabSize: 256 }), /vocabSize/);
    assert.throws(() => gpt2TokenizerFiles({ vocabSize: 1000.5 }), /vocabSize/);
  });
});
