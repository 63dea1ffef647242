/**
 * The generated BERT WordPiece tokenizer (BLIP's layout) through both libraries that read it:
 * tokenizers.js as the captioner loads it, and transformers.js's AutoTokenizer from a folder.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { AutoTokenizer, env, type PreTrainedTokenizer } from '@huggingface/transformers';
import {
  BERT_CLS_ID,
  BERT_MASK_ID,
  BERT_PAD_ID,
  BERT_SEP_ID,
  BERT_UNK_ID,
  BLIP_DEC_ID,
  BLIP_DEC_TOKEN,
  BLIP_ENC_ID,
  BLIP_ENC_TOKEN,
  BLIP_VOCAB_SIZE,
  bertMinVocabSize,
  bertTokenizerFiles,
} from '../../src/models/generator/bert-tokenizer.js';

const SMALL = 1000;
const SENTENCES = [
  'a cat sitting on a couch',
  'A Photography of a DOG running in the grass.',
  "there is a man's umbrella, and two cats!",
  'arafed woman holding a xylophone near the café',
  'numbers 12345 and symbols #@$%^&*()[]{}<>~`|\\',
  'tabs\tand\nnewlines  with  double spaces; 東京 too',
  'a picture of [DEC] and [ENC] in the text',
];

type Vocab = Record<string, number>;
const modelVocab = (files: ReturnType<typeof bertTokenizerFiles>): Vocab => (files.tokenizer.model as { vocab: Vocab }).vocab;

/** Writes the three files the way a model folder holds them and loads them through transformers.js. */
async function loadWithTransformers(root: string, vocabSize: number): Promise<PreTrainedTokenizer> {
  const name = `bert-${vocabSize}`;
  const dir = path.join(root, name);
  await mkdir(dir, { recursive: true });
  const files = bertTokenizerFiles({ vocabSize });
  await writeFile(path.join(dir, 'tokenizer.json'), JSON.stringify(files.tokenizer));
  await writeFile(path.join(dir, 'tokenizer_config.json'), JSON.stringify(files.tokenizerConfig));
  await writeFile(path.join(dir, 'special_tokens_map.json'), JSON.stringify(files.specialTokensMap));
  return AutoTokenizer.from_pretrained(name);
}

/** As load-captioner.ts builds it. */
function loadWithTokenizers(vocabSize = BLIP_VOCAB_SIZE): Tokenizer {
  const files = bertTokenizerFiles({ vocabSize });
  return new Tokenizer(files.tokenizer, files.tokenizerConfig);
}

describe('generated BERT WordPiece tokenizer (BLIP)', () => {
  let root: string;
  let tokenizers: Tokenizer;
  let transformers: PreTrainedTokenizer;
  let small: PreTrainedTokenizer;
  const idOf = (token: string): number => {
    const id = tokenizers.token_to_id(token);
    assert.ok(id !== undefined, `${token} is in the vocabulary`);
    return id;
  };

  before(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'bert-tokenizer-test-'));
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = root;
    tokenizers = loadWithTokenizers();
    transformers = await loadWithTransformers(root, BLIP_VOCAB_SIZE);
    small = await loadWithTransformers(root, SMALL);
  });

  after(async () => {
    if (root) await rm(root, { recursive: true, force: true });
  });

  test('the file format is bert-base-uncased\'s with BLIP\'s added tokens', () => {
    const { tokenizer, tokenizerConfig, specialTokensMap } = bertTokenizerFiles();
    assert.deepEqual(tokenizer.normalizer, { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true });
    assert.deepEqual(tokenizer.pre_tokenizer, { type: 'BertPreTokenizer' });
    assert.deepEqual(tokenizer.decoder, { type: 'WordPiece', prefix: '##', cleanup: true });
    const model = tokenizer.model as Record<string, unknown>;
    assert.deepEqual(
      { ...model, vocab: undefined },
      { type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100, vocab: undefined },
    );
    const post = tokenizer.post_processor as { type: string; single: unknown[]; pair: unknown[]; special_tokens: unknown };
    assert.equal(post.type, 'TemplateProcessing');
    assert.equal(post.single.length, 3);
    assert.equal(post.pair.length, 5);
    assert.deepEqual(post.special_tokens, {
      '[CLS]': { id: '[CLS]', ids: [BERT_CLS_ID], tokens: ['[CLS]'] },
      '[SEP]': { id: '[SEP]', ids: [BERT_SEP_ID], tokens: ['[SEP]'] },
    });
    const added = tokenizer.added_tokens as Array<{ id: number; content: string; special: boolean; normalized: boolean }>;
    assert.deepEqual(added.map(({ id, content }) => [id, content]), [
      [0, '[PAD]'], [100, '[UNK]'], [101, '[CLS]'], [102, '[SEP]'], [103, '[MASK]'], [30522, '[DEC]'], [30523, '[ENC]'],
    ]);
    assert.ok(added.every((t) => t.special && !t.normalized));
    assert.equal(tokenizerConfig.tokenizer_class, 'BertTokenizer');
    assert.equal(tokenizerConfig.bos_token, BLIP_DEC_TOKEN);
    assert.deepEqual(tokenizerConfig.additional_special_tokens, [BLIP_ENC_TOKEN]);
    assert.deepEqual(specialTokensMap, {
      bos_token: '[DEC]', cls_token: '[CLS]', sep_token: '[SEP]', pad_token: '[PAD]', unk_token: '[UNK]', mask_token: '[MASK]',
      additional_special_tokens: ['[ENC]'],
    });
  });

  test('the vocabulary has bert-base-uncased\'s layout and contiguous, distinct ids', () => {
    for (const vocabSize of [SMALL, BLIP_VOCAB_SIZE]) {
      const vocab = modelVocab(bertTokenizerFiles({ vocabSize }));
      // As in the real file, [DEC] and [ENC] are added tokens on top of the WordPiece vocabulary.
      const ids = Object.values(vocab).sort((a, b) => a - b);
      assert.equal(ids.length, vocabSize - 2);
      assert.ok(ids.every((id, i) => id === i), `ids 0..${vocabSize - 3}`);
      assert.equal(vocab['[PAD]'], 0);
      assert.equal(vocab['[unused0]'], 1);
      assert.equal(vocab['[unused98]'], 99);
      assert.deepEqual(['[UNK]', '[CLS]', '[SEP]', '[MASK]'].map((t) => vocab[t]), [100, 101, 102, 103]);
      assert.equal(vocab['!'], 104, 'single characters follow [MASK]');
      for (const char of ['a', 'z', '0', '9', '.', ',', "'"]) assert.ok(vocab[char]! < vocab[`##${char}`]!, char);
      for (const word of ['cat', 'couch', 'photography', 'picture', 'giraffe', 'red']) assert.ok(Object.hasOwn(vocab, word), word);
      assert.ok(vocab['cat']! < vocab['##ing']!, 'words, then ## pieces');
    }
    const full = modelVocab(bertTokenizerFiles());
    assert.equal(full['baba'], full['##baba']! - 1, 'filler pseudo-words come plain, then as ## pieces');
    assert.equal(tokenizers.get_vocab().size, BLIP_VOCAB_SIZE);
    assert.equal(transformers.get_vocab().size, BLIP_VOCAB_SIZE);
    assert.equal(small.get_vocab().size, SMALL);
  });

  test('special ids: [PAD] 0, [UNK] 100, [CLS] 101, [SEP] 102, [MASK] 103, [DEC] 30522, [ENC] 30523', () => {
    assert.deepEqual([BERT_PAD_ID, BERT_UNK_ID, BERT_CLS_ID, BERT_SEP_ID, BERT_MASK_ID, BLIP_DEC_ID, BLIP_ENC_ID], [0, 100, 101, 102, 103, 30522, 30523]);
    for (const [token, id] of [['[PAD]', 0], ['[UNK]', 100], ['[CLS]', 101], ['[SEP]', 102], ['[MASK]', 103], ['[DEC]', 30522], ['[ENC]', 30523]] as const) {
      assert.equal(tokenizers.token_to_id(token), id, token);
      assert.equal(tokenizers.id_to_token(id), token, token);
      assert.equal(transformers.convert_tokens_to_ids(token), id, token);
    }
    assert.equal(transformers.pad_token_id, 0);
    assert.equal(transformers.unk_token_id, 100);
    assert.equal(transformers.sep_token_id, 102);
    assert.equal(transformers.mask_token_id, 103);
    assert.equal(transformers.bos_token_id, 30522);
    assert.equal(small.bos_token_id, SMALL - 2);
    assert.equal(small.convert_tokens_to_ids('[ENC]'), SMALL - 1);
  });

  test('"A photography of" lowercases and encodes to [CLS] pieces [SEP]', () => {
    const pieces = ['a', 'photography', 'of'].map(idOf);
    assert.deepEqual(tokenizers.encode('A photography of').ids, [101, ...pieces, 102]);
    assert.deepEqual(tokenizers.encode('A photography of', { add_special_tokens: false }).ids, pieces);
    assert.deepEqual(transformers.encode('A photography of'), [101, ...pieces, 102]);
    assert.deepEqual(transformers.encode('A photography of', { add_special_tokens: false }), pieces);
    assert.deepEqual(tokenizers.encode('A photography of').tokens, ['[CLS]', 'a', 'photography', 'of', '[SEP]']);
  });

  test('a pair encodes as [CLS] A [SEP] B [SEP] with token types 0 then 1', () => {
    const { ids, token_type_ids } = tokenizers.encode('a cat', { text_pair: 'a dog', return_token_type_ids: true });
    assert.deepEqual(ids, [101, idOf('a'), idOf('cat'), 102, idOf('a'), idOf('dog'), 102]);
    assert.deepEqual(token_type_ids, [0, 0, 0, 0, 1, 1, 1]);
  });

  test('unknown words split into ## pieces as WordPiece does; characters outside the alphabet are [UNK]', () => {
    const tokens: string[] = tokenizers.encode('xylophone', { add_special_tokens: false }).tokens;
    assert.ok(tokens.length > 1, `xylophone → ${tokens.join(' ')}`);
    assert.ok(!tokens[0]!.startsWith('##') && tokens.slice(1).every((t) => t.startsWith('##')), tokens.join(' '));
    assert.equal(tokens.map((t) => t.replace(/^##/, '')).join(''), 'xylophone');
    // Greedy longest match first: 'zebras' (not a vocabulary word) is 'zebra' + '##s', not six characters.
    assert.equal(tokenizers.token_to_id('zebras'), undefined);
    assert.deepEqual(tokenizers.encode('zebras', { add_special_tokens: false }).tokens, ['zebra', '##s']);
    // The normalizer splits CJK characters apart; none is in the vocabulary.
    assert.deepEqual(tokenizers.encode('東京', { add_special_tokens: false }).ids, [BERT_UNK_ID, BERT_UNK_ID]);
    assert.deepEqual(transformers.encode('a 東 cat', { add_special_tokens: false }), [idOf('a'), BERT_UNK_ID, idOf('cat')]);
    // Accents are stripped with lowercasing (strip_accents null follows lowercase).
    assert.deepEqual(tokenizers.encode('Café', { add_special_tokens: false }).ids, tokenizers.encode('cafe', { add_special_tokens: false }).ids);
  });

  test('decoding skips special tokens and applies WordPiece cleanup', () => {
    for (const decode of [
      (ids: number[]) => tokenizers.decode(ids, { skip_special_tokens: true }),
      (ids: number[]) => transformers.decode(ids, { skip_special_tokens: true }),
    ]) {
      assert.equal(decode(tokenizers.encode('a cat, sitting.').ids), 'a cat, sitting.');
      assert.equal(decode(tokenizers.encode('A Cat, SITTING.').ids), 'a cat, sitting.');
      assert.equal(decode(tokenizers.encode("a man's xylophones!").ids), "a man's xylophones!");
      // A BLIP caption as generated: [DEC] first, [SEP] as eos, [PAD] after.
      assert.equal(decode([BLIP_DEC_ID, ...tokenizers.encode('a picture of a dog', { add_special_tokens: false }).ids, BERT_SEP_ID, BERT_PAD_ID]), 'a picture of a dog');
    }
    assert.equal(tokenizers.decode(tokenizers.encode('a cat, sitting.').ids), '[CLS] a cat, sitting. [SEP]');
    assert.equal(transformers.decode([BLIP_DEC_ID, idOf('cat'), BLIP_ENC_ID], { skip_special_tokens: true }), 'cat');
  });

  test('tokenizers.js and transformers.js give the same ids', () => {
    for (const sentence of SENTENCES) {
      const ids = tokenizers.encode(sentence).ids;
      assert.deepEqual(transformers.encode(sentence), ids, sentence);
      assert.equal(transformers.decode(ids), tokenizers.decode(ids), sentence);
    }
    // [DEC] and [ENC] in the text are matched as added tokens, before normalization.
    const ids = tokenizers.encode('a picture of [DEC] and [ENC]', { add_special_tokens: false }).ids;
    assert.ok(ids.includes(BLIP_DEC_ID) && ids.includes(BLIP_ENC_ID));
  });

  test('every id decodes to text', () => {
    for (let id = 0; id < SMALL; id++) assert.ok(small.decode([id]).length > 0, `id ${id}`);
    for (let id = 0; id < BLIP_VOCAB_SIZE; id += 97) assert.ok(transformers.decode([id]).length > 0, `id ${id}`);
  });

  test('deterministic: two calls give identical files', () => {
    assert.deepEqual(bertTokenizerFiles(), bertTokenizerFiles());
    assert.deepEqual(bertTokenizerFiles({ vocabSize: SMALL }), bertTokenizerFiles({ vocabSize: SMALL }));
    assert.equal(bertTokenizerFiles().vocabSize, BLIP_VOCAB_SIZE);
  });

  test('rejects sizes with no room for the fixed part', () => {
    const minimum = bertMinVocabSize();
    assert.doesNotThrow(() => bertTokenizerFiles({ vocabSize: minimum }));
    assert.throws(() => bertTokenizerFiles({ vocabSize: minimum - 1 }), /vocabSize must be an integer >= /);
    assert.throws(() => bertTokenizerFiles({ vocabSize: 1000.5 }), /vocabSize/);
  });
});
