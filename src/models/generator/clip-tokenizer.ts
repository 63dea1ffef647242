/**
 * A small byte-level BPE tokenizer in the exact format of openai/clip-vit-base-patch32's
 * `tokenizer.json` (what Xenova/clip-vit-base-patch32 ships), so generated CLIP models tokenize
 * through the same code paths as the real one:
 *
 *   ids 0–255     the 256 byte-level characters (GPT-2 bytes_to_unicode, real order: '!' 0, '"' 1 …)
 *   ids 256–511   the same characters + '</w>' (end of word)
 *   ids 512–…     merges learned deterministically from a small built-in English corpus
 *   last two ids  '<|startoftext|>' (bos), '<|endoftext|>' (eos = pad = unk: the highest id, as
 *                 49407 is in the real vocabulary; the text tower pools at argmax(input_ids))
 *
 *   const { tokenizer, tokenizerConfig, specialTokensMap, vocabSize } = clipTokenizerFiles();
 *
 * Any text encodes: words outside the corpus fall back to byte-level characters.
 */

import { byteLevelAlphabet, bytesToUnicode, countByteLevelWords, learnMerges } from './bpe-training.js';

export const CLIP_BOS_TOKEN = '<|startoftext|>';
export const CLIP_EOS_TOKEN = '<|endoftext|>';
const END_OF_WORD = '</w>';
/** The real pre-tokenizer's Split regex (tokenizer.json stores it in this Rust-regex form). */
const SPLIT_REGEX = "<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+";
/** Upper bound on learned merges (the corpus needs fewer; training stops when every word is one token). */
const MAX_MERGES = 2000;

/**
 * The training corpus: prompt templates (CLIP's ImageNet prompts and the zero-shot demo's) and
 * common subjects, so everyday prompts get whole-word tokens. Repetition sets merge order.
 */
const TEMPLATES = [
  'this is a photo of a', 'a photo of a', 'a photo of the', 'a photo of an', 'a photo of my', 'a blurry photo of a',
  'a close-up photo of a', 'a painting of a', 'a sketch of a', 'a rendering of a', 'an origami', 'a toy',
  'a good photo of a', 'a bright photo of a', 'a cropped photo of a', 'a black and white photo of a',
  'a dark photo of a', 'a bad photo of a', 'a low resolution photo of a', 'a jpeg corrupted photo of a',
  'a pixelated photo of a', 'a photo of a small', 'a photo of a big', 'a photo of the large', 'a photo of a nice',
  'a photo of a clean', 'a photo of a dirty', 'a photo of a weird', 'a photo of one', 'a plastic', 'a cartoon',
  'art of a', 'a drawing of a', 'a tattoo of a', 'a sculpture of a', 'a embroidered', 'graffiti of a',
  'a plushie', 'itap of a', 'a doodle of a', 'a picture of a', 'an image of a', 'there is a', 'in the',
  'on the', 'with a', 'and the', 'is in', 'it is', 'we are', 'you are', 'they have', 'to be',
];
const SUBJECTS = [
  'cat', 'dog', 'car', 'bird', 'tree', 'house', 'person', 'man', 'woman', 'child', 'people', 'rocket',
  'coffee', 'cup', 'astronaut', 'plane', 'airplane', 'flower', 'food', 'horse', 'fish', 'boat', 'ship',
  'truck', 'bus', 'train', 'bicycle', 'motorcycle', 'street', 'city', 'building', 'road', 'mountain',
  'beach', 'sea', 'ocean', 'river', 'lake', 'forest', 'sky', 'cloud', 'sun', 'moon', 'star', 'night',
  'snow', 'rain', 'water', 'fire', 'table', 'chair', 'bed', 'room', 'kitchen', 'window', 'door',
  'computer', 'phone', 'book', 'bottle', 'glass', 'plate', 'pizza', 'cake', 'apple', 'banana',
  'orange', 'sandwich', 'bear', 'elephant', 'zebra', 'giraffe', 'lion', 'tiger', 'monkey', 'cow',
  'sheep', 'duck', 'chicken', 'kitten', 'puppy', 'animal', 'space', 'moon', 'sport', 'ball', 'game',
  'player', 'field', 'park', 'garden', 'grass', 'red', 'blue', 'green', 'yellow', 'black', 'white',
  'brown', 'pink', 'purple', 'gray', 'old', 'new', 'young', 'happy', 'sad', 'beautiful', 'cute',
  'little', 'large', 'small', 'big', 'two', 'three', 'many', 'some', 'sitting', 'standing', 'running',
  'playing', 'eating', 'holding', 'looking', 'riding', 'flying', 'walking', 'wearing', 'near', 'under',
  'over', 'at', 'for', 'from', 'by', 'that', 'his', 'her', 'their', 'its', 'sunset', 'landscape',
  'portrait', 'diagram', 'text', 'logo', 'sign', 'face', 'hand', 'hat', 'shirt', 'dress', 'shoes',
  'mug', 'tea', 'wine', 'beer', 'bread', 'cheese', 'salad', 'soup', 'meat', 'fruit', 'vegetable',
];

function corpusText(): string {
  const lines: string[] = [];
  for (const template of TEMPLATES) for (let r = 0; r < 3; r++) lines.push(template);
  for (const [i, subject] of SUBJECTS.entries()) {
    lines.push(`${TEMPLATES[i % TEMPLATES.length]} ${subject}.`);
    lines.push(`the ${subject} is on the ${SUBJECTS[(i * 7 + 3) % SUBJECTS.length]}`);
  }
  return lines.join('\n');
}

/** Pre-tokenizes like the real pipeline (NFC, whitespace, lowercase, Split regex, byte-level) and counts words. */
function wordCounts(text: string, byteToChar: string[]): Map<string, number> {
  const normalized = text.normalize('NFC').replace(/\s+/g, ' ').toLowerCase();
  return countByteLevelWords(normalized, SPLIT_REGEX, byteToChar);
}

export interface ClipTokenizerFiles {
  /** tokenizer.json */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json */
  tokenizerConfig: Record<string, unknown>;
  /** special_tokens_map.json */
  specialTokensMap: Record<string, unknown>;
  /** Number of ids (bos = vocabSize - 2, eos = vocabSize - 1). */
  vocabSize: number;
}

let cached: ClipTokenizerFiles | undefined;

/** The generated tokenizer's files (deterministic; computed once per process, a fresh copy per call). */
export function clipTokenizerFiles(): ClipTokenizerFiles {
  if (cached) return structuredClone(cached);
  const byteToChar = bytesToUnicode();
  const alphabet = byteLevelAlphabet(byteToChar);
  const vocab: Record<string, number> = {};
  let next = 0;
  const add = (token: string): void => {
    if (!Object.hasOwn(vocab, token)) vocab[token] = next++;
  };
  for (const ch of alphabet) add(ch);
  for (const ch of alphabet) add(ch + END_OF_WORD);
  const merges = learnMerges(wordCounts(corpusText(), byteToChar), { maxMerges: MAX_MERGES, endOfWordSuffix: END_OF_WORD });
  for (const [a, b] of merges) add(a + b);
  add(CLIP_BOS_TOKEN);
  add(CLIP_EOS_TOKEN);
  const bos = vocab[CLIP_BOS_TOKEN]!;
  const eos = vocab[CLIP_EOS_TOKEN]!;
  const vocabSize = next;

  const special = (id: number, content: string, normalized: boolean): Record<string, unknown> => ({
    id, content, single_word: false, lstrip: false, rstrip: false, normalized, special: true,
  });
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [special(bos, CLIP_BOS_TOKEN, true), special(eos, CLIP_EOS_TOKEN, false)],
    normalizer: {
      type: 'Sequence',
      normalizers: [{ type: 'NFC' }, { type: 'Replace', pattern: { Regex: '\\s+' }, content: ' ' }, { type: 'Lowercase' }],
    },
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Split', pattern: { Regex: SPLIT_REGEX }, behavior: 'Removed', invert: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'RobertaProcessing', sep: [CLIP_EOS_TOKEN, eos], cls: [CLIP_BOS_TOKEN, bos], trim_offsets: false, add_prefix_space: false },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: CLIP_EOS_TOKEN,
      continuing_subword_prefix: '',
      end_of_word_suffix: END_OF_WORD,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };

  const addedDecoder = (content: string, normalized: boolean): Record<string, unknown> => ({
    content, lstrip: false, normalized, rstrip: false, single_word: false, special: true,
  });
  const tokenizerConfig = {
    add_prefix_space: false,
    added_tokens_decoder: {
      [String(bos)]: addedDecoder(CLIP_BOS_TOKEN, true),
      [String(eos)]: addedDecoder(CLIP_EOS_TOKEN, false),
    },
    bos_token: CLIP_BOS_TOKEN,
    clean_up_tokenization_spaces: false,
    do_lower_case: true,
    eos_token: CLIP_EOS_TOKEN,
    errors: 'replace',
    extra_special_tokens: {},
    model_max_length: 77,
    pad_token: CLIP_EOS_TOKEN,
    processor_class: 'CLIPProcessor',
    tokenizer_class: 'CLIPTokenizer',
    unk_token: CLIP_EOS_TOKEN,
  };

  const mapEntry = (content: string, normalized: boolean): Record<string, unknown> => ({
    content, lstrip: false, normalized, rstrip: false, single_word: false,
  });
  const specialTokensMap = {
    bos_token: mapEntry(CLIP_BOS_TOKEN, true),
    eos_token: mapEntry(CLIP_EOS_TOKEN, false),
    pad_token: mapEntry(CLIP_EOS_TOKEN, false),
    unk_token: mapEntry(CLIP_EOS_TOKEN, false),
  };

  cached = { tokenizer, tokenizerConfig, specialTokensMap, vocabSize };
  return structuredClone(cached);
}
