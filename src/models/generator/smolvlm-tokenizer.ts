/**
 * The tokenizer files of a generated SmolVLM (HuggingFaceTB/SmolVLM-256M-Instruct's layout:
 * SmolLM2's byte-level BPE plus Idefics3's image tokens, `tokenizer_class` GPT2Tokenizer, the
 * Instruct chat template):
 *
 *   ids 0–6        '<|endoftext|>', '<|im_start|>', '<|im_end|>', '<fake_token_around_image>',
 *                  '<image>', '<global-img>', '<end_of_utterance>' (SMOLVLM_TOKENS)
 *   ids 7–42       '<row_{r}_col_{c}>' for r, c in 1..6 (image splitting's tile markers)
 *   ids 43–298     the 256 byte-level characters (GPT-2 bytes_to_unicode order)
 *   ids 299–…      merges learned from a small chat corpus, then filler merges to vocabSize
 *
 * SmolLM2 keeps its specials at the start of the vocabulary too (0–2 are the same three); the
 * real SmolVLM appends its image tokens after id 49152. Ids here do not depend on the size, so
 * tests can name them; the server reads them from the files (config.json's image_token_id).
 *
 *   const { tokenizer, tokenizerConfig, specialTokensMap } = smolVlmTokenizerFiles({ vocabSize: 1200 });
 */
import { byteLevelMerges } from './bpe-training.js';

/** The special ids by name (the same for every vocabulary size). */
export const SMOLVLM_TOKENS = {
  endOfText: 0,
  imStart: 1,
  imEnd: 2,
  fakeTokenAroundImage: 3,
  image: 4,
  globalImg: 5,
  endOfUtterance: 6,
  /** '<row_1_col_1>'; '<row_{r}_col_{c}>' is firstRowCol + 6·(r − 1) + (c − 1). */
  firstRowCol: 7,
} as const;

const ROW_COL = Array.from({ length: 36 }, (_, i) => `<row_${Math.floor(i / 6) + 1}_col_${(i % 6) + 1}>`);
/** Every added token, in id order. */
export const SMOLVLM_SPECIAL_TOKENS: readonly string[] = [
  '<|endoftext|>',
  '<|im_start|>',
  '<|im_end|>',
  '<fake_token_around_image>',
  '<image>',
  '<global-img>',
  '<end_of_utterance>',
  ...ROW_COL,
];

/** SmolVLM-Instruct's chat template, verbatim. */
export const SMOLVLM_CHAT_TEMPLATE =
  "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

/**
 * For training only: SmolLM2 splits digits one by one (Digits pre-tokenizer), then applies the
 * ByteLevel regex; one regex with single digits approximates the two steps.
 */
const TRAINING_REGEX = "\\p{N}|'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const MAX_TRAINED_MERGES = 3000;

/** Short chat turns about pictures: what a visual-chat model reads and writes most. */
const QUESTIONS = [
  'Can you describe this image?', 'What is in this picture?', 'What do you see?', 'How many people are there?',
  'What color is the car?', 'Where was this photo taken?', 'Is there a dog in the image?', 'What is the man holding?',
  'Describe the scene in detail.', 'What time of day is it?', 'Read the text in the image.', 'What is the weather like?',
];
const SUBJECTS = ['a cat', 'a dog', 'a man', 'a woman', 'two children', 'a group of people', 'a red car', 'a small boat', 'a white horse', 'an old building', 'a bird', 'a tall tree'];
const VERBS = ['sitting on', 'standing next to', 'walking along', 'looking at', 'lying on', 'holding', 'playing with', 'parked in front of'];
const PLACES = ['a wooden table', 'the beach', 'a busy street', 'a green field', 'the kitchen counter', 'a park bench', 'the river', 'a snowy mountain'];
const OPENERS = ['The image shows', 'In this picture, there is', 'I can see', 'This photo shows', 'There is'];
const CLOSERS = ['The sky is blue and clear.', 'The lighting is soft and warm.', 'It looks like a sunny day.', 'The background is slightly blurred.', 'Nothing else is visible.'];

function corpusText(): string {
  const lines: string[] = [];
  for (let i = 0; i < 400; i++) {
    const scene = `${SUBJECTS[i % SUBJECTS.length]} ${VERBS[(i * 5) % VERBS.length]} ${PLACES[(i * 7) % PLACES.length]}`;
    lines.push(`User: ${QUESTIONS[i % QUESTIONS.length]}`);
    lines.push(`Assistant: ${OPENERS[(i * 3) % OPENERS.length]} ${scene}. ${CLOSERS[i % CLOSERS.length]}`);
  }
  lines.push('Yes, there is. No, there is not. I am not sure. Thank you! You are welcome.');
  return lines.join('\n');
}

export interface SmolVlmTokenizerFiles {
  tokenizer: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  specialTokensMap: Record<string, unknown>;
}

const cache = new Map<number, SmolVlmTokenizerFiles>();

/** The tokenizer's files for `vocabSize` ids (deterministic; cached per size, a fresh copy per call). */
export function smolVlmTokenizerFiles(options: { vocabSize: number }): SmolVlmTokenizerFiles {
  const { vocabSize } = options;
  const base = SMOLVLM_SPECIAL_TOKENS.length + 256;
  if (!Number.isInteger(vocabSize) || vocabSize < base) throw new Error(`smolvlm tokenizer: vocabSize must be an integer >= ${base}, got ${vocabSize}`);
  const hit = cache.get(vocabSize);
  if (hit) return structuredClone(hit);

  const { tokens, merges: pairs } = byteLevelMerges('smolvlm tokenizer', corpusText(), TRAINING_REGEX, vocabSize - base, MAX_TRAINED_MERGES);

  const vocab: Record<string, number> = {};
  for (const [id, token] of [...SMOLVLM_SPECIAL_TOKENS, ...tokens].entries()) {
    if (Object.hasOwn(vocab, token)) throw new Error(`smolvlm tokenizer: duplicate token ${JSON.stringify(token)}`);
    vocab[token] = id;
  }

  const added = SMOLVLM_SPECIAL_TOKENS.map((content, id) => ({ id, content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true }));
  const tokenizer = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    normalizer: null,
    pre_tokenizer: {
      type: 'Sequence',
      pretokenizers: [
        { type: 'Digits', individual_digits: true },
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
      ],
    },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: null,
      end_of_word_suffix: null,
      fuse_unk: false,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges: pairs.map(([a, b]) => `${a} ${b}`),
    },
  };

  const [endOfText, imStart, imEnd] = SMOLVLM_SPECIAL_TOKENS as [string, string, string];
  const additional = ['<fake_token_around_image>', '<image>', '<end_of_utterance>'];
  const tokenizerConfig = {
    add_prefix_space: false,
    added_tokens_decoder: Object.fromEntries(added.map(({ id, ...token }) => [String(id), token])),
    additional_special_tokens: additional,
    bos_token: imStart,
    chat_template: SMOLVLM_CHAT_TEMPLATE,
    clean_up_tokenization_spaces: false,
    eos_token: '<end_of_utterance>',
    legacy: false,
    model_max_length: 8192,
    pad_token: imEnd,
    processor_class: 'Idefics3Processor',
    tokenizer_class: 'GPT2Tokenizer',
    truncation_side: 'left',
    unk_token: endOfText,
    vocab_size: vocabSize,
  };
  const specialTokensMap = { additional_special_tokens: additional, bos_token: imStart, eos_token: '<end_of_utterance>', pad_token: imEnd, unk_token: endOfText };

  const files = { tokenizer, tokenizerConfig, specialTokensMap };
  cache.set(vocabSize, files);
  return structuredClone(files);
}
