/**
 * Image captioning: image bytes → preprocessing → the encoder's batcher → the decode scheduler
 * (steps batched across requests) → text, cut at stop strings. A request's decoding options
 * fall back to the model's generation_config.json defaults, then to greedy decoding of 20 tokens.
 *
 *   const { caption, finishReason } = await captioner.caption({ image, maxNewTokens: 20 }, { signal });
 */
import { ApiError } from '../errors.js';
import type { ImageProcessorSettings } from '../models/image/index.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { EncodedRow } from './batched-encoder.js';
import type { Batcher } from './batcher.js';
import type { GenerationDefaults } from '../models/captioner/generation-config.js';
import type { BeamOptions } from './generation/beam-search.js';
import { IncrementalText } from './generation/incremental-text.js';
import type { DecodeScheduler, FinishReason, SequenceRequest, SequenceResult } from './generation/decode-scheduler.js';
import type { SamplingOptions } from './generation/sampling.js';
import { throwIfCancelled, withDeadline } from './generation/sequence-deadline.js';
import type { CallOptions } from './image-classification.js';

/** Tokens a caption gets when neither the request nor the model says (transformers' max_length 20). */
export const DEFAULT_MAX_NEW_TOKENS = 20;

export interface CaptionInput extends SamplingOptions {
  image: Uint8Array;
  /** Unset: the model's default (generation_config.json), else 20. */
  maxNewTokens?: number;
  /** The caption ends before the first of these (which is left out). */
  stop?: string[];
  /** Text the caption continues ("a photography of"), for models that take one; the caption includes it. */
  prompt?: string;
  /** Beam search instead of greedy decoding (the text arrives when the search is over); unset fields: the model's defaults. */
  beams?: Partial<BeamOptions>;
  /** Receives the caption's text as it grows (streaming). */
  onText?: (delta: string) => void;
}

export interface CaptionResult {
  caption: string;
  tokens: number;
  finishReason: FinishReason;
  timing: { preprocessMs: number; encodeMs: number; decodeMs: number; totalMs: number };
}

export interface Captioner {
  caption(input: CaptionInput, options?: CallOptions): Promise<CaptionResult>;
}

export interface CaptionerDeps {
  image: ImageProcessorSettings;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle'>;
  encoder: Pick<Batcher<Float32Array, EncodedRow>, 'submit'>;
  scheduler: Pick<DecodeScheduler, 'submit' | 'expect'>;
  decode(ids: number[]): string;
  /** The decoder's positions: a caption has at most this many tokens minus the start token. */
  maxPositions: number;
  /** A prompt's token ids; absent for models that cannot continue one. */
  encodePrompt?(text: string): number[];
  /** The model's decoding defaults, for the options a request leaves out. */
  defaults?: GenerationDefaults;
}

export function createCaptioner(deps: CaptionerDeps): Captioner {
  return {
    async caption(request, options = {}) {
      const input = withDefaults(request, deps.defaults ?? {});
      const promptIds = promptIdsOf(input.prompt, deps);
      const limit = deps.maxPositions - 1 - promptIds.length;
      if (input.maxNewTokens > limit) throw new ApiError('invalid_request', `max_new_tokens is ${input.maxNewTokens}; this model's decoder has room for ${limit}${promptIds.length > 0 ? ` after the prompt's ${promptIds.length} tokens` : ''}`);
      const started = performance.now();
      const text = new IncrementalText(deps.decode, input.stop ?? [], promptIds);
      // The scheduler holds a new cohort for this image while it is encoded (up to a bound).
      const arrived = deps.scheduler.expect();
      let preprocessMs: number;
      let encodeMs: number;
      let submitted: Promise<SequenceResult>;
      const deadline = withDeadline(options);
      let result: SequenceResult;
      try {
        try {
          const { pixelValues } = await deps.preprocessor.preprocess(input.image, deps.image, options);
          preprocessMs = performance.now() - started;
          const encoded = await deps.encoder.submit(pixelValues, options);
          deps.preprocessor.recycle(pixelValues);
          encodeMs = performance.now() - started - preprocessMs;
          submitted = deps.scheduler.submit({ ...sequenceRequest(input, encoded, text, deadline.signal), ...(promptIds.length > 0 && { promptIds }) });
        } finally {
          arrived();
        }
        result = await submitted;
      } finally {
        deadline.dispose();
      }
      throwIfCancelled(result, options, 'caption');
      const totalMs = performance.now() - started;
      return { caption: text.promptText + text.text, tokens: result.tokens.length, finishReason: result.finishReason, timing: { preprocessMs, encodeMs, decodeMs: totalMs - preprocessMs - encodeMs, totalMs } };
    },
  };
}

/** A request's options with every default applied. */
type ResolvedInput = Omit<CaptionInput, 'maxNewTokens' | 'beams'> & { maxNewTokens: number; beams?: BeamOptions };

/** A caption's options: the request's, else the model's defaults, else greedy decoding of 20 tokens. */
function withDefaults(input: CaptionInput, defaults: GenerationDefaults): ResolvedInput {
  const maxNewTokens = input.maxNewTokens ?? defaults.maxNewTokens ?? DEFAULT_MAX_NEW_TOKENS;
  const minNewTokens = input.minNewTokens ?? defaults.minNewTokens;
  if ((minNewTokens ?? 0) > maxNewTokens) throw new ApiError('invalid_request', `min_new_tokens (${minNewTokens}) is above max_new_tokens (${maxNewTokens})`);
  const numBeams = input.beams?.numBeams ?? defaults.numBeams ?? 1;
  // Beams search deterministically: a model's sampling default gives way to them.
  const sampling = numBeams > 1 ? {} : { temperature: input.temperature ?? defaults.temperature, topK: input.topK ?? defaults.topK, topP: input.topP ?? defaults.topP };
  const beams = numBeams > 1 ? { numBeams, lengthPenalty: input.beams?.lengthPenalty ?? defaults.lengthPenalty, earlyStopping: input.beams?.earlyStopping ?? defaults.earlyStopping } : undefined;
  return {
    ...input,
    ...sampling,
    maxNewTokens,
    minNewTokens,
    repetitionPenalty: input.repetitionPenalty ?? defaults.repetitionPenalty,
    noRepeatNgramSize: input.noRepeatNgramSize ?? defaults.noRepeatNgramSize,
    beams,
  };
}

function promptIdsOf(prompt: string | undefined, deps: CaptionerDeps): number[] {
  if (prompt === undefined || prompt === '') return [];
  if (!deps.encodePrompt) throw new ApiError('invalid_request', 'this model does not continue a prompt (its decoder takes no attention mask); leave `prompt` out');
  return deps.encodePrompt(prompt);
}

/** The decoding of one caption: from the image's encoder row, its text growing with each token. */
function sequenceRequest(input: ResolvedInput, encoded: EncodedRow, text: IncrementalText, signal: AbortSignal | undefined): SequenceRequest {
  return {
    encoderStates: { type: 'float32', dims: [1, ...encoded.dims], data: encoded.row },
    maxNewTokens: input.maxNewTokens,
    sampling: {
      temperature: input.temperature,
      topK: input.topK,
      topP: input.topP,
      seed: input.seed,
      minNewTokens: input.minNewTokens,
      repetitionPenalty: input.repetitionPenalty,
      noRepeatNgramSize: input.noRepeatNgramSize,
    },
    signal,
    ...(input.beams && { beams: input.beams }),
    onToken: (token) => {
      const { delta, stopped } = text.push(token);
      if (delta) input.onText?.(delta);
      return stopped;
    },
  };
}
