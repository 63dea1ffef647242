/**
 * Loads a BLIP captioner in this server's BLIP contract (docs/architecture.md, "Model contracts
 * it implements"): `onnx/vision_model.onnx` (pixel_values → last_hidden_state), the first-step
 * `onnx/decoder_model.onnx` and the with-past `onnx/decoder_with_past_model.onnx`, all three in
 * each worker; the start, end and pad ids from config.json's text_config ([DEC], [SEP], [PAD]);
 * the WordPiece tokenizer, which also encodes prompts.
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { checkContract, type ModelContract } from '../contract.js';
import type { CaptionerModelBase } from './captioner-model.js';
import { createFamilyPool, type FamilyLoadOptions } from '../family-load-options.js';
import { loadFolderImageProcessor, onnxFile, readJsonFile } from '../hf-folder.js';
import type { SessionInfo } from '../session/worker-protocol.js';

export const BLIP_VISION = 'vision_model';
export const BLIP_PREFILL = 'decoder_model';
export const BLIP_STEP = 'decoder_with_past_model';
/** past_key_values.{layer}.decoder|encoder.key|value: self-attention (grows) and cross-attention caches. */
const PAST_INPUT = /^past_key_values\.(\d+)\.(decoder|encoder)\.(key|value)$/;

const VISION_CONTRACT: ModelContract = {
  family: 'blip',
  inputs: [{ name: 'pixel_values', type: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
  outputs: [{ name: 'last_hidden_state', type: 'float32', dims: ['batch_size', 'encoder_sequence_length', 'hidden'] }],
};
const ids = (name: string) => ({ name, type: 'int64' as const, dims: ['batch_size', 'sequence_length'] });
const LOGITS = { name: 'logits', type: 'float32' as const, dims: ['batch_size', 'sequence_length', 'vocab'] };
const PREFILL_CONTRACT: ModelContract = {
  family: 'blip',
  inputs: [ids('input_ids'), ids('attention_mask'), ids('position_ids'), { name: 'encoder_hidden_states', type: 'float32', dims: ['batch_size', 'encoder_sequence_length', 'hidden'] }, ids('encoder_attention_mask')],
  outputs: [LOGITS],
};
const STEP_CONTRACT: ModelContract = {
  family: 'blip',
  inputs: [ids('input_ids'), ids('attention_mask'), ids('position_ids'), ids('encoder_attention_mask')],
  outputs: [LOGITS],
  otherInputs: PAST_INPUT,
};

export interface BlipModel extends CaptionerModelBase {
  padTokenId: number;
  /** The self-attention pasts (the others are the cross-attention caches). */
  growingPasts: string[];
  /** A prompt's WordPiece ids, without [CLS] and [SEP] (the caption continues it). */
  encodePrompt(text: string): number[];
}

interface BlipConfig {
  model_type?: string;
  text_config?: { bos_token_id?: number; sep_token_id?: number; pad_token_id?: number; max_position_embeddings?: number };
  _generated?: { random_weights?: boolean };
}

export async function loadBlipModel(options: FamilyLoadOptions): Promise<BlipModel> {
  const { dir } = options;
  const config = await readJsonFile<BlipConfig>(dir, 'config.json');
  if (config.model_type !== 'blip') throw new Error(`${dir}/config.json: model_type is '${config.model_type}', expected 'blip'`);
  // BlipForConditionalGeneration.generate starts at bos ([DEC]) and ends at sep ([SEP]).
  const text = config.text_config ?? {};
  const { bos_token_id: start = 30522, sep_token_id: end = 102, pad_token_id: pad = 0 } = text;
  const { image, itemDims } = await loadFolderImageProcessor(dir, true);
  const tokenizer = new Tokenizer(await readJsonFile(dir, 'tokenizer.json'), await readJsonFile(dir, 'tokenizer_config.json'));
  const pool = await createFamilyPool(options, {
    [BLIP_VISION]: onnxFile(dir, BLIP_VISION, options.variant),
    [BLIP_PREFILL]: onnxFile(dir, BLIP_PREFILL, options.variant),
    [BLIP_STEP]: onnxFile(dir, BLIP_STEP, options.variant),
  });
  try {
    const where = (session: string) => `model ${dir} (${session})`;
    checkContract(VISION_CONTRACT, pool.session(BLIP_VISION), where(BLIP_VISION));
    checkContract(PREFILL_CONTRACT, pool.session(BLIP_PREFILL), where(BLIP_PREFILL));
    checkContract(STEP_CONTRACT, pool.session(BLIP_STEP), where(BLIP_STEP));
    const pastToPresent = pastsOf(pool.session(BLIP_STEP), pool.session(BLIP_PREFILL), dir);
    return {
      randomWeights: config._generated?.random_weights === true,
      image,
      itemDims,
      pool,
      startTokenId: start,
      eosTokenIds: [end],
      padTokenId: pad,
      pastToPresent,
      growingPasts: Object.keys(pastToPresent).filter((name) => name.includes('.decoder.')),
      maxPositions: text.max_position_embeddings ?? 512,
      decode: (tokens) => tokenizer.decode(tokens, { skip_special_tokens: true }),
      encodePrompt: (prompt) => tokenizer.encode(prompt, { add_special_tokens: false }).ids,
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}

/** Each past the with-past decoder takes, and the present (of the first step, or of every step) that feeds it. */
function pastsOf(step: SessionInfo, prefill: SessionInfo, dir: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const prefillOutputs = new Set(prefill.outputs.map((o) => o.name));
  const stepOutputs = new Set(step.outputs.map((o) => o.name));
  for (const { name } of step.inputs) {
    const match = PAST_INPUT.exec(name);
    if (!match) continue;
    const present = `present.${match[1]}.${match[2]}.${match[3]}`;
    if (!prefillOutputs.has(present)) throw new Error(`model ${dir} (${BLIP_PREFILL}): no output '${present}' for the later steps' '${name}'`);
    if (match[2] === 'decoder' && !stepOutputs.has(present)) throw new Error(`model ${dir} (${BLIP_STEP}): no output '${present}' (the self-attention cache grows each step)`);
    pairs[name] = present;
  }
  if (!Object.keys(pairs).some((name) => name.includes('.encoder.'))) throw new Error(`model ${dir} (${BLIP_STEP}) takes no cross-attention cache (past_key_values.{i}.encoder.*)`);
  return pairs;
}
