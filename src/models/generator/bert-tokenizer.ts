/**
 * A BERT WordPiece tokenizer in the exact format of the `tokenizer.json` that
 * Salesforce/blip-image-captioning-base ships (bert-base-uncased's BertTokenizerFast plus BLIP's two
 * added tokens), so generated BLIP captioners tokenize and decode through the same code paths as
 * the real one:
 *
 *   id 0             '[PAD]'
 *   ids 1–99         '[unused0]' … '[unused98]'
 *   ids 100–103      '[UNK]', '[CLS]', '[SEP]', '[MASK]'
 *   ids 104–…        single characters (a–z, 0–9, ASCII punctuation), each also as '##x'
 *   …                whole words of a built-in caption corpus, most frequent first ('a', 'of', …)
 *   …                common '##' suffix pieces ('##s', '##ing', …)
 *   … vocabSize − 3  filler once the corpus runs out: syllable pseudo-words ('baba', then '##baba',
 *                    'babe', '##babe' …), so every id is a real WordPiece token that decodes to text
 *   vocabSize − 2    '[DEC]' (BLIP's bos: the decoder's start token; 30522 in the real vocabulary)
 *   vocabSize − 1    '[ENC]' (BLIP's encoder token; 30523)
 *
 *   const { tokenizer, tokenizerConfig, specialTokensMap, vocabSize } = bertTokenizerFiles();
 *
 * As in the real file, '[DEC]' and '[ENC]' live only in `added_tokens` (they were added on top of
 * bert-base-uncased's 30522-entry vocab.txt), so `model.vocab` holds ids 0 … vocabSize − 3.
 * Text is lowercased and accent-stripped; any ASCII word encodes (unknown words fall back to
 * character pieces); characters outside the alphabet become '[UNK]', as in BERT.
 */

import { COCO_OBJECTS } from './caption-corpus.js';

/** BLIP's vocabulary: bert-base-uncased's 30522 entries plus '[DEC]' and '[ENC]'. */
export const BLIP_VOCAB_SIZE = 30524;
export const BERT_PAD_ID = 0;
export const BERT_UNK_ID = 100;
export const BERT_CLS_ID = 101;
export const BERT_SEP_ID = 102;
export const BERT_MASK_ID = 103;
/** '[DEC]', BLIP's bos and decoder start token (vocabSize − 2 for other sizes). */
export const BLIP_DEC_ID = BLIP_VOCAB_SIZE - 2;
/** '[ENC]', BLIP's additional special token (vocabSize − 1 for other sizes). */
export const BLIP_ENC_ID = BLIP_VOCAB_SIZE - 1;
export const BLIP_DEC_TOKEN = '[DEC]';
export const BLIP_ENC_TOKEN = '[ENC]';

const PAD = '[PAD]';
const UNK = '[UNK]';
const CLS = '[CLS]';
const SEP = '[SEP]';
const MASK = '[MASK]';
const UNUSED_COUNT = 99;
const SUBWORD_PREFIX = '##';

/** What BertPreTokenizer splits off as punctuation in ASCII (every non-alphanumeric printable). */
const ASCII_PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';
const LETTERS = 'abcdefghijklmnopqrstuvwxyz';
const DIGITS = '0123456789';

/** BLIP-style captions ("a photography of …", "arafed …" included: the real model says them). */
const CAPTIONS = [
  'a cat sitting on a couch', 'a photography of a dog running in the grass', 'a picture of a man riding a horse',
  'a painting of a house by the lake', 'a close up of a pizza on a plate', 'there is a cat that is sitting on a bed',
  'there is a woman that is standing in the kitchen', 'arafed man in a suit and tie standing in front of a building',
  'araffe giraffe standing next to a tree in a field', 'a black and white photo of a city street',
  'a group of people standing around a table', 'a large jetliner flying through a blue sky',
  'a train traveling down train tracks next to a forest', 'a bowl of fruit on a kitchen counter',
  'a red double decker bus driving down a street', 'a herd of sheep grazing on a lush green hillside',
  'a young boy holding a baseball bat', 'a little girl eating a slice of cake', 'a view of a mountain with snow',
  'a rocket launching into the sky with smoke', 'an image of a dog with its tongue out', 'two cats laying on a blanket',
  'a woman walking on the beach at sunset', 'a man is surfing on a wave in the ocean', 'a cup of coffee and a book',
  'a close up of a flower with a bee', 'a bathroom with a toilet and a sink', 'a living room with a television',
];
const SUBJECTS = [
  'a cat', 'a dog', 'a man', 'a woman', 'a boy', 'a girl', 'a child', 'a baby', 'a bird', 'a horse', 'a cow',
  'an elephant', 'a zebra', 'a bear', 'a kitten', 'a puppy', 'a couple', 'a family', 'a person', 'three people',
];
const ACTIONS = [
  'sitting on', 'standing next to', 'riding', 'holding', 'laying on', 'walking down', 'eating', 'playing with',
  'looking at', 'flying over', 'sleeping on', 'jumping over', 'wearing', 'carrying', 'posing with', 'near',
];
const PLACES = [
  'a couch', 'a table', 'the street', 'a field', 'the beach', 'a bed', 'a bench', 'the water', 'the snow',
  'a window', 'a road', 'a fence', 'a park', 'the sky', 'a room', 'a chair', 'the floor', 'a desk', 'the grass',
];
const COLORS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'brown', 'orange', 'pink', 'gray', 'grey', 'purple', 'silver', 'gold'];
const DESCRIPTORS = ['large', 'small', 'big', 'little', 'old', 'young', 'tall', 'wooden', 'colorful', 'empty', 'cute', 'dark', 'bright'];
const NUMBER_WORDS = ['one', 'two', 'three', 'four', 'five', 'six', 'seven', 'eight', 'nine', 'ten', 'several', 'many'];
/** Frequent word endings, as '##' pieces, so unseen inflections split like real BERT's do. */
const SUFFIXES = [
  's', 'es', 'ed', 'ing', 'er', 'ers', 'est', 'ly', 'y', 'ies', 'ion', 'tion', 'sion', 'ness', 'ment', 'ful',
  'less', 'able', 'al', 'ic', 'ist', 'ism', 'ity', 'ous', 'ive', 'ize', 'en', 'ish', 'ant', 'ent', 'ary',
  'ery', 'ory', 'ting', 'ning', 'ping', 'ted', 'ned', 'ped', 'ings', 'ship', 'hood', 'ward', 'like', 'ie',
];
/** Filler syllables: consonant + vowel, so pseudo-words read as words in random-weight captions. */
const CONSONANTS = 'bdfgklmnprstvz';
const VOWELS = 'aeiou';

/** Captions, then generated combinations; lines are joined, so word frequency orders the vocabulary. */
function corpusLines(): string[] {
  const lines = [...CAPTIONS];
  for (let i = 0; i < 240; i++) {
    lines.push(`${SUBJECTS[i % SUBJECTS.length]} ${ACTIONS[(i * 7) % ACTIONS.length]} ${PLACES[(i * 11) % PLACES.length]}`);
  }
  for (const [i, object] of COCO_OBJECTS.entries()) {
    const adjective = i % 2 === 0 ? COLORS[i % COLORS.length] : DESCRIPTORS[i % DESCRIPTORS.length];
    lines.push(`a photography of a ${adjective} ${object} ${ACTIONS[(i * 5) % ACTIONS.length]} ${PLACES[(i * 3) % PLACES.length]}`);
    lines.push(`a picture of ${NUMBER_WORDS[i % NUMBER_WORDS.length]} ${object}`);
  }
  return lines;
}

/** Corpus words (lowercase alphanumeric runs, as BertPreTokenizer yields them), most frequent first, ties in order of appearance. */
function corpusWords(): string[] {
  const counts = new Map<string, number>();
  for (const line of corpusLines()) {
    for (const word of line.toLowerCase().match(/[a-z0-9]+/g) ?? []) counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  // Map keeps insertion order and sort is stable, so equal counts stay in order of appearance.
  return [...counts.entries()].sort((a, b) => b[1] - a[1]).map(([word]) => word);
}

/** ids 0–103, bert-base-uncased's fixed head. */
function specialHead(): string[] {
  const unused = Array.from({ length: UNUSED_COUNT }, (_, i) => `[unused${i}]`);
  return [PAD, ...unused, UNK, CLS, SEP, MASK];
}

/** Every character alone, then as a continuation piece: with both, any ASCII word has a WordPiece split. */
function characterTokens(): string[] {
  const chars = [...ASCII_PUNCTUATION, ...DIGITS, ...LETTERS];
  return [...chars, ...chars.map((char) => SUBWORD_PREFIX + char)];
}

/** Consonant-vowel pseudo-words, two syllables then three, in a fixed order (lazily: few are needed for small sizes). */
function* pseudoWords(): Generator<string> {
  const syllables = [...CONSONANTS].flatMap((consonant) => [...VOWELS].map((vowel) => consonant + vowel));
  for (const first of syllables) for (const second of syllables) yield first + second;
  for (const first of syllables) for (const second of syllables) for (const third of syllables) yield first + second + third;
}

/** `count` filler tokens not in `taken`: each pseudo-word plainly, then as a '##' piece. */
function fillerTokens(taken: Set<string>, count: number): string[] {
  const filler: string[] = [];
  for (const word of pseudoWords()) {
    for (const token of [word, SUBWORD_PREFIX + word]) {
      if (filler.length === count) return filler;
      if (taken.has(token)) continue;
      taken.add(token);
      filler.push(token);
    }
  }
  if (filler.length < count) throw new Error('bert tokenizer: ran out of filler pseudo-words');
  return filler;
}

/** The fixed part of the vocabulary (head, characters, corpus words, suffixes), duplicates dropped. */
function fixedTokens(): string[] {
  const tokens = [...specialHead(), ...characterTokens(), ...corpusWords(), ...SUFFIXES.map((suffix) => SUBWORD_PREFIX + suffix)];
  // A corpus word can be a single character ('a') or a suffix a character piece ('##s'): keep the first.
  return [...new Set(tokens)];
}

/** The smallest vocabSize that holds the fixed part plus '[DEC]' and '[ENC]'. */
export function bertMinVocabSize(): number {
  return fixedTokens().length + 2;
}

/** token → id for ids 0 … vocabSize − 3 (the WordPiece model's own vocabulary). */
function wordPieceVocab(vocabSize: number): Record<string, number> {
  const fixed = fixedTokens();
  const modelSize = vocabSize - 2;
  const tokens = [...fixed, ...fillerTokens(new Set(fixed), modelSize - fixed.length)];
  const vocab: Record<string, number> = {};
  for (const [id, token] of tokens.entries()) {
    // A repeated token would leave a hole in the ids (the file maps token → id).
    if (Object.hasOwn(vocab, token)) throw new Error(`bert tokenizer: duplicate token ${JSON.stringify(token)}`);
    vocab[token] = id;
  }
  return vocab;
}

/** One `added_tokens` entry; none are normalized, so '[DEC]' is matched before lowercasing. */
function addedToken(id: number, content: string): Record<string, unknown> {
  return { id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true };
}

/** bert-base-uncased's post-processor: "[CLS] $A [SEP]" and "[CLS] $A [SEP] $B:1 [SEP]:1". */
function templateProcessing(): Record<string, unknown> {
  const special = (id: string, typeId: number) => ({ SpecialToken: { id, type_id: typeId } });
  const sequence = (id: 'A' | 'B', typeId: number) => ({ Sequence: { id, type_id: typeId } });
  return {
    type: 'TemplateProcessing',
    single: [special(CLS, 0), sequence('A', 0), special(SEP, 0)],
    pair: [special(CLS, 0), sequence('A', 0), special(SEP, 0), sequence('B', 1), special(SEP, 1)],
    special_tokens: {
      [CLS]: { id: CLS, ids: [BERT_CLS_ID], tokens: [CLS] },
      [SEP]: { id: SEP, ids: [BERT_SEP_ID], tokens: [SEP] },
    },
  };
}

export interface BertTokenizerFiles {
  /** tokenizer.json */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json */
  tokenizerConfig: Record<string, unknown>;
  /** special_tokens_map.json */
  specialTokensMap: Record<string, unknown>;
  /** Number of ids ('[DEC]' = vocabSize − 2, '[ENC]' = vocabSize − 1). */
  vocabSize: number;
}

/** The generated tokenizer's files for `vocabSize` ids (default BLIP's 30524; deterministic, a fresh object per call). */
export function bertTokenizerFiles(options: { vocabSize?: number } = {}): BertTokenizerFiles {
  const { vocabSize = BLIP_VOCAB_SIZE } = options;
  const minimum = bertMinVocabSize();
  if (!Number.isInteger(vocabSize) || vocabSize < minimum) {
    throw new Error(`bert tokenizer: vocabSize must be an integer >= ${minimum} (special tokens, characters, corpus words, [DEC], [ENC]), got ${vocabSize}`);
  }
  const decId = vocabSize - 2;
  const encId = vocabSize - 1;

  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [
      addedToken(BERT_PAD_ID, PAD), addedToken(BERT_UNK_ID, UNK), addedToken(BERT_CLS_ID, CLS), addedToken(BERT_SEP_ID, SEP),
      addedToken(BERT_MASK_ID, MASK), addedToken(decId, BLIP_DEC_TOKEN), addedToken(encId, BLIP_ENC_TOKEN),
    ],
    // strip_accents null: follows lowercase (so accents are stripped), as in bert-base-uncased.
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: templateProcessing(),
    decoder: { type: 'WordPiece', prefix: SUBWORD_PREFIX, cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: UNK,
      continuing_subword_prefix: SUBWORD_PREFIX,
      max_input_chars_per_word: 100,
      vocab: wordPieceVocab(vocabSize),
    },
  };

  // transformers.js and tokenizers.js read the added tokens from tokenizer.json, so no added_tokens_decoder here.
  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: 512,
    cls_token: CLS,
    sep_token: SEP,
    pad_token: PAD,
    unk_token: UNK,
    mask_token: MASK,
    bos_token: BLIP_DEC_TOKEN,
    additional_special_tokens: [BLIP_ENC_TOKEN],
    clean_up_tokenization_spaces: true,
    strip_accents: null,
    tokenize_chinese_chars: true,
  };
  const specialTokensMap = {
    bos_token: BLIP_DEC_TOKEN,
    cls_token: CLS,
    sep_token: SEP,
    pad_token: PAD,
    unk_token: UNK,
    mask_token: MASK,
    additional_special_tokens: [BLIP_ENC_TOKEN],
  };

  return { tokenizer, tokenizerConfig, specialTokensMap, vocabSize };
}
