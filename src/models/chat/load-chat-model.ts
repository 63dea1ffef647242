/**
 * Loads a visual-chat model in the Idefics3 / SmolVLM ONNX layout (docs/architecture.md, "Model
 * contracts it implements", "Visual chat"): `onnx/vision_encoder.onnx` (pixel_values
 * [batch, views, 3, H, W] + pixel_attention_mask → image_features [valid views, tokens, hidden],
 * already projected into the language model's space), `onnx/embed_tokens.onnx` (input_ids →
 * inputs_embeds), `onnx/decoder_model_merged.onnx` (inputs_embeds, attention_mask, position_ids,
 * past_key_values.{i}.key|value → logits, present.{i}.key|value), all three in each worker; the
 * tokenizer, the chat template, the image tokens, the end-of-turn ids.
 *
 * Images are one view each by default (Idefics3's `do_image_splitting` off, what a CPU can
 * afford): resized to max_image_size² directly (the Python processor first resizes to
 * `size.longest_edge`, then to the square: within a resampling's rounding of this), rescaled and
 * normalised. With the model setting `image_splitting`, tiles and a global view
 * (src/models/image/image-views.ts).
 */
import { readFile } from 'node:fs/promises';
import { Tokenizer } from '@huggingface/tokenizers';
import { checkContract, type ModelContract } from '../contract.js';
import { createFamilyPool, type FamilyLoadOptions } from '../family-load-options.js';
import { onnxFile, readJsonFile } from '../hf-folder.js';
import { parseImageProcessorConfig, type ImageProcessorSettings } from '../image/index.js';
import { MERGED_PAST_INPUT, mergedPastToPresent } from '../merged-decoder-pasts.js';
import { readGraphSummary } from '../onnx/graph-summary.js';
import type { WorkerPool } from '../session/worker-pool.js';
import { loadChatTemplate, type ChatTemplate } from './chat-template.js';
import type { ImagePromptTokens } from './image-tokens.js';

export const CHAT_VISION = 'vision_encoder';
export const CHAT_EMBED = 'embed_tokens';
export const CHAT_DECODER = 'decoder_model_merged';

const f32 = (name: string, dims: (number | string)[]) => ({ name, type: 'float32' as const, dims });
const i64 = (name: string, dims: (number | string)[]) => ({ name, type: 'int64' as const, dims });
const VISION_CONTRACT: ModelContract = {
  family: 'idefics3',
  inputs: [f32('pixel_values', ['batch_size', 'num_images', 3, 'height', 'width']), { name: 'pixel_attention_mask', type: 'bool', dims: ['batch_size', 'num_images', 'height', 'width'] }],
  outputs: [f32('image_features', ['num_valid_images', 'image_seq_len', 'hidden'])],
};
const EMBED_CONTRACT: ModelContract = {
  family: 'idefics3',
  inputs: [i64('input_ids', ['batch_size', 'sequence_length'])],
  outputs: [f32('inputs_embeds', ['batch_size', 'sequence_length', 'hidden'])],
};
const DECODER_CONTRACT: ModelContract = {
  family: 'idefics3',
  inputs: [f32('inputs_embeds', ['batch_size', 'sequence_length', 'hidden']), i64('attention_mask', ['batch_size', 'total_sequence_length']), i64('position_ids', ['batch_size', 'sequence_length'])],
  outputs: [f32('logits', ['batch_size', 'sequence_length', 'vocab'])],
  otherInputs: MERGED_PAST_INPUT,
};

export interface ChatModel {
  randomWeights: boolean;
  pool: WorkerPool;
  /** One view's preprocessing (a square of `viewSize`). */
  image: ImageProcessorSettings;
  viewSize: number;
  /** preprocessor_config.json `size.longest_edge`: where image splitting resizes to first (when the folder says). */
  splitLongestEdge: number | undefined;
  template: ChatTemplate;
  imageTokens: ImagePromptTokens;
  /** The language model's width (each image token's feature length). */
  hidden: number;
  eosTokenIds: number[];
  pastToPresent: Record<string, string>;
  maxPositions: number;
  /**
   * The decoder uses com.microsoft GroupQueryAttention, which assumes every row's cache starts
   * at position 0 (left-padded rows would decode wrong tokens), and whose CPU kernel in
   * onnxruntime 1.30 gave wrong tokens for two runs at once on one session (measured on the
   * generated model): such a model decodes one conversation at a time.
   */
  groupQueryAttention: boolean;
  encode(text: string): number[];
  decode(ids: number[]): string;
}

interface Idefics3Config {
  model_type?: string;
  image_token_id?: number;
  scale_factor?: number;
  text_config?: { hidden_size?: number; eos_token_id?: number | number[]; max_position_embeddings?: number };
  vision_config?: { image_size?: number; patch_size?: number };
  _generated?: { random_weights?: boolean };
}

/** The model types this loader reads (SmolVLM's config says idefics3; newer ones smolvlm). */
export const CHAT_MODEL_TYPES: readonly string[] = ['idefics3', 'smolvlm'];

export async function loadChatModel(options: FamilyLoadOptions): Promise<ChatModel> {
  const { dir } = options;
  const config = await readJsonFile<Idefics3Config>(dir, 'config.json');
  if (!CHAT_MODEL_TYPES.includes(config.model_type ?? '')) throw new Error(`${dir}/config.json: model_type is '${config.model_type}', expected one of ${CHAT_MODEL_TYPES.join(', ')}`);
  const tokenizerConfig = await readJsonFile<Record<string, unknown>>(dir, 'tokenizer_config.json');
  const tokenizer = new Tokenizer(await readJsonFile(dir, 'tokenizer.json'), tokenizerConfig);
  const template = await loadChatTemplate(dir, tokenizerConfig);
  const { image, viewSize, splitLongestEdge } = await chatViewProcessor(dir);
  const imageTokens = await imagePromptTokens(dir, config, tokenizer);
  const hidden = config.text_config?.hidden_size;
  if (!hidden) throw new Error(`${dir}/config.json: text_config.hidden_size is missing`);
  const eosTokenIds = await endOfTurnIds(dir, config, tokenizer);
  const decoderFile = onnxFile(dir, CHAT_DECODER, options.variant);
  const groupQueryAttention = readGraphSummary(await readFile(decoderFile)).nodes.some((node) => node.opType === 'GroupQueryAttention');
  const pool = await createFamilyPool(options, {
    [CHAT_VISION]: onnxFile(dir, CHAT_VISION, options.variant),
    [CHAT_EMBED]: onnxFile(dir, CHAT_EMBED, options.variant),
    [CHAT_DECODER]: decoderFile,
  });
  try {
    const where = (session: string) => `model ${dir} (${session})`;
    checkContract(VISION_CONTRACT, pool.session(CHAT_VISION), where(CHAT_VISION));
    checkContract(EMBED_CONTRACT, pool.session(CHAT_EMBED), where(CHAT_EMBED));
    checkContract(DECODER_CONTRACT, pool.session(CHAT_DECODER), where(CHAT_DECODER));
    return {
      randomWeights: config._generated?.random_weights === true,
      pool,
      image,
      viewSize,
      splitLongestEdge,
      template,
      imageTokens,
      hidden,
      eosTokenIds,
      pastToPresent: mergedPastToPresent(pool.session(CHAT_DECODER), where(CHAT_DECODER)),
      maxPositions: config.text_config?.max_position_embeddings ?? 8192,
      groupQueryAttention,
      encode: (text) => tokenizer.encode(text, { add_special_tokens: false }).ids,
      decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }),
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}

interface Idefics3Preprocessor {
  max_image_size?: { longest_edge?: number };
  size?: { longest_edge?: number };
}

/** One square view of max_image_size.longest_edge, with the folder's resample, rescale and normalisation; and where splitting resizes to first. */
export async function chatViewProcessor(dir: string): Promise<{ image: ImageProcessorSettings; viewSize: number; splitLongestEdge: number | undefined }> {
  const raw = await readJsonFile<Idefics3Preprocessor & Record<string, unknown>>(dir, 'preprocessor_config.json');
  const viewSize = raw.max_image_size?.longest_edge;
  if (!viewSize) throw new Error(`${dir}/preprocessor_config.json: max_image_size.longest_edge is missing`);
  const { max_image_size: _max, size, ...rest } = raw;
  const image = parseImageProcessorConfig({ ...rest, do_resize: true, size: { height: viewSize, width: viewSize }, do_center_crop: false }, { defaultToSquare: true, source: `${dir}/preprocessor_config.json` });
  return { image, viewSize, splitLongestEdge: size?.longest_edge };
}

async function imagePromptTokens(dir: string, config: Idefics3Config, tokenizer: Tokenizer): Promise<ImagePromptTokens> {
  const idOf = (token: string): number => {
    const id = tokenizer.token_to_id(token);
    if (id === undefined || id === null) throw new Error(`${dir}: the tokenizer has no '${token}' token`);
    return id;
  };
  const image = '<image>';
  const imageId = config.image_token_id ?? idOf(image);
  if (idOf(image) !== imageId) throw new Error(`${dir}: config.json image_token_id ${imageId} is not the tokenizer's '${image}' (${idOf(image)})`);
  for (const token of ['<fake_token_around_image>', '<global-img>']) idOf(token);
  return { image, imageId, around: '<fake_token_around_image>', global: '<global-img>', perView: await imageSeqLen(dir, config) };
}

/** processor_config.json `image_seq_len`, else what the vision config implies: (image / patch)² / scale². */
async function imageSeqLen(dir: string, config: Idefics3Config): Promise<number> {
  const processor = await readJsonFile<{ image_seq_len?: number }>(dir, 'processor_config.json').catch(() => ({}) as { image_seq_len?: number });
  if (processor.image_seq_len) return processor.image_seq_len;
  const { image_size: size, patch_size: patch } = config.vision_config ?? {};
  const scale = config.scale_factor ?? 1;
  if (!size || !patch) throw new Error(`${dir}: no processor_config.json image_seq_len, and vision_config has no image_size/patch_size`);
  return (size / patch) ** 2 / scale ** 2;
}

/** Where an answer ends: generation_config.json's eos ids, the text config's, and `<end_of_utterance>` if the vocabulary has it. */
async function endOfTurnIds(dir: string, config: Idefics3Config, tokenizer: Tokenizer): Promise<number[]> {
  const generation = await readJsonFile<{ eos_token_id?: number | number[] }>(dir, 'generation_config.json').catch(() => ({}) as { eos_token_id?: number | number[] });
  const ids = [generation.eos_token_id, config.text_config?.eos_token_id, tokenizer.token_to_id('<end_of_utterance>') ?? undefined].flat();
  const unique = [...new Set(ids.filter((id): id is number => typeof id === 'number'))];
  if (unique.length === 0) throw new Error(`${dir}: no end-of-turn token (generation_config.json eos_token_id, text_config.eos_token_id or '<end_of_utterance>')`);
  return unique;
}
