/**
 * What a MaskedScheduler feeds its decoder besides the attention mask and position ids (which
 * it builds itself): an encoder-decoder's token ids and encoder states (BLIP), or a
 * decoder-only model's prompt as embeddings (visual chat: image features spliced into the token
 * embeddings), whose later tokens the worker embeds itself (`CacheStep.embed`), so that no
 * embedding crosses threads after the prefill.
 */
import type { CacheStep } from '../../models/session/worker-protocol.js';
import type { NamedTensors, PlainTensor } from '../../models/session/tensor.js';
import { concatRows, type SequenceRequest } from './decode-scheduler.js';

export interface MaskedInputs {
  /** The prefill's feeds for these rows, each prefix (start token and prompt) left-padded by `padding[i]` positions. */
  prefill(requests: readonly SequenceRequest[], prefixes: readonly number[][], padding: readonly number[]): NamedTensors;
  /** A step's feeds: each lane's last token. */
  step(tokens: readonly number[], requests: readonly SequenceRequest[]): NamedTensors;
  /** Set when the worker embeds a step's token ids before the decoder reads them. */
  embed?: CacheStep['embed'];
}

/** BLIP's text decoder: token ids (padding `padTokenId`), cross-attention to each row's image tokens. */
export function encoderDecoderInputs(options: { encoderInput: string; padTokenId: number }): MaskedInputs {
  const statesOf = (request: SequenceRequest): PlainTensor => {
    if (!request.encoderStates) throw new Error('an encoder-decoder row needs its encoder states');
    return request.encoderStates;
  };
  return {
    prefill(requests, prefixes, padding) {
      const states = concatRows(requests.map(statesOf));
      return {
        input_ids: int64(prefixes.map((ids, i) => [...Array<number>(padding[i]!).fill(options.padTokenId), ...ids])),
        [options.encoderInput]: states,
        encoder_attention_mask: ones(requests.length, states.dims[1]!),
      };
    },
    step(tokens, requests) {
      return { input_ids: int64(tokens.map((token) => [token])), encoder_attention_mask: ones(requests.length, statesOf(requests[0]!).dims[1]!) };
    },
  };
}

/**
 * A decoder-only model that reads `inputs_embeds`: the prefill sends each row's prompt
 * embeddings (`SequenceRequest.promptEmbeds`, zeros over the padding); steps send token ids,
 * which the worker turns into embeddings with `embedSession` (input_ids → inputs_embeds).
 */
export function embeddedPromptInputs(embedSession: string): MaskedInputs {
  return {
    prefill(requests, prefixes, padding) {
      const embeds = requests.map((request) => {
        if (!request.promptEmbeds) throw new Error('a decoder-only row needs its prompt embeddings');
        return request.promptEmbeds;
      });
      const hidden = embeds[0]!.dims[2]!;
      const length = padding[0]! + prefixes[0]!.length;
      const data = new Float32Array(requests.length * length * hidden);
      embeds.forEach((embed, i) => {
        if (embed.dims[1] !== prefixes[i]!.length) throw new Error(`prompt embeddings for ${embed.dims[1]} positions, prompt of ${prefixes[i]!.length}`);
        data.set(embed.data as Float32Array, (i * length + padding[i]!) * hidden);
      });
      return { inputs_embeds: { type: 'float32', dims: [requests.length, length, hidden], data } };
    },
    step: (tokens) => ({ input_ids: int64(tokens.map((token) => [token])) }),
    embed: { session: embedSession, input: 'input_ids', output: 'inputs_embeds' },
  };
}

export function int64(rows: readonly number[][]): PlainTensor {
  return { type: 'int64', dims: [rows.length, rows[0]!.length], data: BigInt64Array.from(rows.flat().map(BigInt)) };
}

function ones(rows: number, columns: number): PlainTensor {
  return { type: 'int64', dims: [rows, columns], data: new BigInt64Array(rows * columns).fill(1n) };
}
