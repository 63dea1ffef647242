/**
 * A byte-level BPE tokenizer in the exact format of gpt2's `tokenizer.json` (what
 * Xenova/vit-gpt2-image-captioning ships for its GPT-2 decoder), so generated captioning models
 * tokenize and decode through the same code paths as the real one:
 *
 *   ids 0–255        the 256 byte-level characters (GPT-2 bytes_to_unicode, real order: '!' 0, '"' 1 …)
 *   ids 256–…        merges learned deterministically from a small built-in caption corpus
 *                    (space-prefixed words as 'Ġcat', no end-of-word suffix; ~580 of them)
 *   … vocabSize − 2  filler merges once the corpus runs out (word tokens extended by letters:
 *                    pseudo-words), so every id is still a real BPE token that decodes to text
 *   vocabSize − 1    '<|endoftext|>' (bos = eos = unk, as 50256 is in the real 50257 vocabulary)
 *
 *   const { tokenizer, tokenizerConfig, specialTokensMap, vocabSize } = gpt2TokenizerFiles({ vocabSize: 50257 });
 *
 * Any text encodes (unknown words fall back to byte-level characters) and decodes back exactly.
 */

import { byteLevelMerges } from './bpe-training.js';
import { COCO_OBJECTS } from './caption-corpus.js';

export const GPT2_EOS_TOKEN = '<|endoftext|>';
/** GPT-2's real vocabulary size (50000 merges + 256 bytes + '<|endoftext|>'). */
export const GPT2_VOCAB_SIZE = 50257;
/** The ByteLevel pre-tokenizer's regex (use_regex: true), as tokenizers / tokenizers.js apply it. */
const SPLIT_REGEX = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
/**
 * Cap on trained merges: the corpus runs out well before this, and the naive trainer rescans every
 * word per merge, so training towards 50000 would be slow for no gain. The rest are filler.
 */
const MAX_TRAINED_MERGES = 4000;

/** COCO-style captions (what vit-gpt2 produces); repeated so their words merge first. */
const CAPTIONS = [
  'a cat sitting on a couch', 'a man riding a horse', 'a plate of food on a table', 'a dog laying on a bed',
  'a bathroom with a toilet and a sink', 'a kitchen with a stove and a refrigerator',
  'a living room filled with furniture and a television', 'a large jetliner flying through a blue sky',
  'a train traveling down train tracks next to a forest', 'a group of people standing around a table',
  'a giraffe standing next to a tree in a field', 'a black and white photo of a city street',
  'a close up of a pizza on a plate', 'a person holding an umbrella in the rain',
  'a bunch of bananas sitting on top of a table', 'two dogs playing with a frisbee in the grass',
  'a red double decker bus driving down a street', 'a herd of sheep grazing on a lush green hillside',
  'a man holding a tennis racquet on a tennis court', 'a woman sitting at a table with a laptop',
  'a young boy holding a baseball bat', 'a little girl eating a slice of pizza',
  'a clock tower with a sky background', 'a stop sign on the corner of a street',
  'a red fire hydrant on the side of a road', 'a teddy bear sitting on a wooden bench',
  'a surfer riding a wave on top of a surfboard', 'a skateboarder doing a trick on a ramp',
  'an elephant walking through a grassy field', 'a zebra standing in the dirt near a fence',
  'a bowl of fruit on a kitchen counter', 'a vase of flowers on a window sill',
  'a cup of coffee next to a sandwich', 'a motorcycle parked in front of a building',
  "a man's hand holding a cell phone", 'a dog, a cat and a bird', 'there is a boat in the water',
];
const SUBJECTS = [
  'a cat', 'a dog', 'a man', 'a woman', 'a young boy', 'a little girl', 'two men', 'a group of people',
  'a bird', 'a horse', 'a giraffe', 'an elephant', 'a zebra', 'a bear', 'a cow', 'a train', 'a bus',
  'a truck', 'a car', 'a boat', 'an airplane', 'a motorcycle', 'a bicycle', 'a baseball player',
  'a person', 'a couple of people', 'a kitten', 'a puppy', 'three sheep', 'a child',
];
const ACTIONS = [
  'sitting on', 'standing next to', 'riding', 'holding', 'laying on', 'walking down', 'eating',
  'playing with', 'flying over', 'parked in front of', 'looking at', 'standing in', 'sitting in',
  'on top of', 'near', 'in front of', 'next to', 'with',
];
const PLACES = [
  'a couch', 'a table', 'the street', 'a field', 'the beach', 'a bed', 'a wooden bench', 'the water',
  'a grassy field', 'a city street', 'the snow', 'a kitchen counter', 'a tree', 'a building', 'the ocean',
  'a laptop', 'a frisbee', 'a surfboard', 'an umbrella', 'a cell phone', 'a skateboard', 'a kite',
  'a plate of food', 'a pizza', 'a window', 'a road', 'a fence', 'a park', 'the sky', 'a room',
];

const COLORS = ['red', 'blue', 'green', 'yellow', 'black', 'white', 'brown', 'orange', 'pink', 'gray', 'purple', 'large', 'small'];

/** Captions, then generated combinations; some sentence-cased with a period, as real text. */
function corpusText(): string {
  const lines: string[] = [];
  for (const caption of CAPTIONS) for (let r = 0; r < 3; r++) lines.push(caption);
  for (let i = 0; i < 360; i++) {
    const caption = `${SUBJECTS[i % SUBJECTS.length]} ${ACTIONS[(i * 7) % ACTIONS.length]} ${PLACES[(i * 11) % PLACES.length]}`;
    lines.push(i % 3 === 0 ? `${caption[0]!.toUpperCase()}${caption.slice(1)}.` : caption);
  }
  for (const [i, object] of COCO_OBJECTS.entries()) {
    lines.push(`a ${COLORS[i % COLORS.length]} ${object} ${ACTIONS[(i * 5) % ACTIONS.length]} ${PLACES[(i * 3) % PLACES.length]}`);
    lines.push(`there is a ${object} in the picture`);
  }
  return lines.join('\n');
}

export interface Gpt2TokenizerFiles {
  /** tokenizer.json */
  tokenizer: Record<string, unknown>;
  /** tokenizer_config.json */
  tokenizerConfig: Record<string, unknown>;
  /** special_tokens_map.json */
  specialTokensMap: Record<string, unknown>;
  /** Number of ids ('<|endoftext|>' = vocabSize - 1). */
  vocabSize: number;
}

const cache = new Map<number, Gpt2TokenizerFiles>();

/** The generated tokenizer's files for `vocabSize` ids (deterministic; cached per size, a fresh copy per call). */
export function gpt2TokenizerFiles(options: { vocabSize: number }): Gpt2TokenizerFiles {
  const { vocabSize } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 257) {
    throw new Error(`gpt2 tokenizer: vocabSize must be an integer >= 257 (256 bytes + eos), got ${vocabSize}`);
  }
  const hit = cache.get(vocabSize);
  if (hit) return structuredClone(hit);

  // 256 byte-level characters, the merges, then the end token.
  const { tokens, merges: pairs } = byteLevelMerges('gpt2 tokenizer', corpusText(), SPLIT_REGEX, vocabSize - 256 - 1, MAX_TRAINED_MERGES);

  const vocab: Record<string, number> = {};
  const ordered = [...tokens, GPT2_EOS_TOKEN];
  for (const [id, token] of ordered.entries()) {
    // A repeated token would leave a hole in the ids (the file maps token → id).
    if (Object.hasOwn(vocab, token)) throw new Error(`gpt2 tokenizer: duplicate token ${JSON.stringify(token)}`);
    vocab[token] = id;
  }
  const eos = vocabSize - 1;

  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [{ id: eos, content: GPT2_EOS_TOKEN, single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      // gpt2's file stores merges as "left right" strings (byte-level tokens never contain a space).
      merges: pairs.map(([a, b]) => `${a} ${b}`),
    },
  };

  const tokenizerConfig = {
    add_prefix_space: false,
    bos_token: GPT2_EOS_TOKEN,
    clean_up_tokenization_spaces: true,
    eos_token: GPT2_EOS_TOKEN,
    model_max_length: 1024,
    tokenizer_class: 'GPT2Tokenizer',
    unk_token: GPT2_EOS_TOKEN,
  };
  const specialTokensMap = { bos_token: GPT2_EOS_TOKEN, eos_token: GPT2_EOS_TOKEN, pad_token: GPT2_EOS_TOKEN, unk_token: GPT2_EOS_TOKEN };

  const files: Gpt2TokenizerFiles = { tokenizer, tokenizerConfig, specialTokensMap, vocabSize };
  cache.set(vocabSize, files);
  return structuredClone(files);
}
