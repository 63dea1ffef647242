/**
 * Loads a vision-encoder-decoder captioner from a Hugging Face ONNX folder (the layout of
 * Xenova/vit-gpt2-image-captioning): `onnx/encoder_model.onnx` (pixel_values →
 * last_hidden_state) and `onnx/decoder_model_merged.onnx` (the merged decoder: input_ids,
 * encoder_hidden_states, use_cache_branch and past_key_values.{i}.key|value → logits and
 * present.{i}.key|value), both sessions in each worker; config.json's start and end tokens; the
 * tokenizer with the tokenizer classes transformers.js uses (pure JS: the main thread never loads
 * onnxruntime).
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { checkContract, type ModelContract } from '../contract.js';
import type { CaptionerModelBase } from './captioner-model.js';
import { createFamilyPool, type FamilyLoadOptions } from '../family-load-options.js';
import { loadFolderImageProcessor, onnxFile, readJsonFile } from '../hf-folder.js';
import { mergedPastToPresent } from '../merged-decoder-pasts.js';
import { PROJECTIONS_SESSION_SUFFIX } from '../session/worker-protocol.js';

export const CAPTION_ENCODER = 'encoder_model';
export const CAPTION_DECODER = 'decoder_model_merged';
const PROJECTIONS = `${CAPTION_DECODER}${PROJECTIONS_SESSION_SUFFIX}`;
/** The cache inputs of a merged decoder (past_key_values.{layer}.key|value); besides the pasts, a decoder whose encoder projections were split out reads them (PROJECTION_INPUT_PREFIX). */
const PAST_OR_PROJECTION_INPUT = /^past_key_values\.\d+\.(key|value)$|^encoder_projection\.\d+$/;
const ENCODER_INPUT = 'encoder_hidden_states';

const ENCODER_CONTRACT: ModelContract = {
  family: 'vision-encoder-decoder',
  inputs: [{ name: 'pixel_values', type: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
  outputs: [{ name: 'last_hidden_state', type: 'float32', dims: ['batch_size', 'encoder_sequence_length', 'hidden'] }],
};
const DECODER_CONTRACT: ModelContract = {
  family: 'vision-encoder-decoder',
  inputs: [
    { name: 'input_ids', type: 'int64', dims: ['batch_size', 'decoder_sequence_length'] },
    { name: ENCODER_INPUT, type: 'float32', dims: ['batch_size', 'encoder_sequence_length', 'hidden'] },
    { name: 'use_cache_branch', type: 'bool', dims: [1] },
  ],
  outputs: [{ name: 'logits', type: 'float32', dims: ['batch_size', 'decoder_sequence_length', 'vocab'] }],
  otherInputs: PAST_OR_PROJECTION_INPUT,
};

export interface CaptionerModel extends CaptionerModelBase {
  /** The decoder's encoder input, kept in the worker for every step. */
  encoderInput: string;
  /** The session that computes the decoder's encoder projections once per group of rows, when split out. */
  projections?: string;
}

interface CaptionerConfig {
  model_type?: string;
  decoder_start_token_id?: number;
  eos_token_id?: number | number[];
  decoder?: { decoder_start_token_id?: number; bos_token_id?: number; eos_token_id?: number | number[]; n_positions?: number; max_position_embeddings?: number };
  _generated?: { random_weights?: boolean };
}

export async function loadCaptionerModel(options: FamilyLoadOptions): Promise<CaptionerModel> {
  const { dir } = options;
  const config = await readJsonFile<CaptionerConfig>(dir, 'config.json');
  if (config.model_type !== 'vision-encoder-decoder') throw new Error(`${dir}/config.json: model_type is '${config.model_type}', expected 'vision-encoder-decoder'`);
  const startTokenId = config.decoder_start_token_id ?? config.decoder?.decoder_start_token_id ?? config.decoder?.bos_token_id;
  const eos = config.eos_token_id ?? config.decoder?.eos_token_id;
  if (startTokenId === undefined || eos === undefined) throw new Error(`${dir}/config.json names no decoder_start_token_id or eos_token_id`);
  const { image, itemDims } = await loadFolderImageProcessor(dir, true);
  const tokenizer = new Tokenizer(await readJsonFile(dir, 'tokenizer.json'), await readJsonFile(dir, 'tokenizer_config.json'));

  const pool = await createFamilyPool(
    options,
    { [CAPTION_ENCODER]: onnxFile(dir, CAPTION_ENCODER, options.variant), [CAPTION_DECODER]: onnxFile(dir, CAPTION_DECODER, options.variant) },
    { hoistEncoderProjections: { [CAPTION_DECODER]: ENCODER_INPUT } },
  );
  try {
    checkContract(ENCODER_CONTRACT, pool.session(CAPTION_ENCODER), `model ${dir} (${CAPTION_ENCODER})`);
    const decoder = pool.session(CAPTION_DECODER);
    checkContract(DECODER_CONTRACT, decoder, `model ${dir} (${CAPTION_DECODER})`);
    return {
      randomWeights: config._generated?.random_weights === true,
      image,
      itemDims,
      pool,
      startTokenId,
      eosTokenIds: Array.isArray(eos) ? eos : [eos],
      pastToPresent: mergedPastToPresent(decoder, `model ${dir} (${CAPTION_DECODER})`),
      encoderInput: ENCODER_INPUT,
      ...(pool.sessions[PROJECTIONS] && { projections: PROJECTIONS }),
      maxPositions: config.decoder?.n_positions ?? config.decoder?.max_position_embeddings ?? 1024,
      decode: (ids) => tokenizer.decode(ids, { skip_special_tokens: true }),
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}

