/**
 * Messages between a WorkerPool and its session workers. A worker holds one onnxruntime session
 * per component of a model (CLIP: `text_model` and `vision_model`; a ViT: `model`), all on one
 * execution provider, and each run names the session it is for. Stateful work (a decoder keeping
 * its KV cache in the worker between steps) adds message kinds here.
 */
import type { GraphAdditions } from '../onnx/graph-summary.js';
import type { ExecutionProvider } from './execution-providers.js';
import type { NamedTensors, TensorType } from './tensor.js';

export interface SessionWorkerOptions {
  /** Session name → ONNX file, e.g. `{ model: '/m/onnx/model.onnx' }`. */
  sessions: Record<string, string>;
  /**
   * Session name → nodes and outputs to add to its graph at load (e.g. attention probabilities
   * as outputs). A run still computes and copies only what the outputs it names need.
   */
  graphAdditions?: Record<string, GraphAdditions>;
  /**
   * Session name → its encoder input: the decoder's encoder-side projections are split into a
   * session of their own, named `<name>/encoder_projections`, run once per group of rows
   * (see hoist-encoder-projections.ts). Where nothing can be split, the decoder loads as it is.
   */
  hoistEncoderProjections?: Record<string, string>;
  intraOpThreads: number;
  providers: ExecutionProvider[];
  /** Fail instead of falling back to CPU when the first provider cannot be created. */
  requireProvider: boolean;
  /** Busy-waiting after a run steals cores from sibling sessions; off when several share the CPU. */
  allowSpinning: boolean;
}

/** The session that computes a decoder's encoder projections: `decoder_model_merged/encoder_projections`. */
export const PROJECTIONS_SESSION_SUFFIX = '/encoder_projections';

export interface ValueInfo {
  name: string;
  /** undefined for non-tensor values (sequences, maps). */
  type: TensorType | string | undefined;
  /** number = fixed, string = symbolic (dynamic) axis. */
  shape: (number | string)[];
}

export interface ProviderFailure {
  provider: ExecutionProvider;
  message: string;
}

/** What a loaded session takes and gives. */
export interface SessionInfo {
  inputs: ValueInfo[];
  outputs: ValueInfo[];
}

export type WorkerToPool =
  /** `notes`: what loading changed or could not change (a decoder left whole, and why). */
  | { kind: 'ready'; provider: ExecutionProvider; fallbacks: ProviderFailure[]; sessions: Record<string, SessionInfo>; notes: string[] }
  | { kind: 'load_failed'; message: string; fallbacks: ProviderFailure[] }
  /**
   * `feeds`: the run's inputs, transferred back so that the caller can reuse their buffers;
   * `cacheBytes`: after a decoder step, what its cache holds in the worker (pasts and kept inputs).
   */
  | { kind: 'result'; id: number; outputs: NamedTensors; feeds: NamedTensors; cacheBytes?: number }
  | { kind: 'run_failed'; id: number; message: string };

/**
 * A decoder step whose KV cache stays in the worker between steps: only the step's new inputs
 * go in and only the last position's logits come out (docs/architecture.md, "Decoder caches").
 */
export interface CacheStep {
  /** The cache's id in this worker: one per group of rows decoded together. */
  id: string;
  /** Past input → the present output that feeds it at the next step (past_key_values.0.key → present.0.key). */
  pastToPresent: Record<string, string>;
  /**
   * First step: every past the session takes starts empty (past length 0); a first-step session
   * that takes none (an unmerged `decoder_model`) gets none. At later steps a past whose present
   * the step does not output (the cross-attention keys and values) is kept as it is.
   */
  start: boolean;
  /**
   * Inputs sent at the start and kept in the worker for the later steps (the encoder's hidden
   * states, which every step reads): later steps leave them out of their feeds.
   */
  keepInputs?: string[];
  /**
   * A session of this worker that, at the start, computes more inputs from the kept ones (the
   * decoder's encoder projections); its outputs are kept as well and fed at every step.
   */
  precompute?: string;
  /**
   * Before the step (after `mergeFrom`), the cache's rows become these rows of it, in this order:
   * rows that left the group are dropped, and a row may be repeated (beams that share a parent).
   */
  keepRows?: number[];
  /**
   * The pasts that grow by one position per step along axis 2 (self-attention), where rows of
   * different lengths are left-padded; the others (cross-attention keys and values) keep their
   * length. Needed by `trimLeft` and `mergeFrom`.
   */
  growingPasts?: string[];
  /**
   * Before the step, first append the rows of these caches of this worker (prefilled newcomers),
   * left-padding the growing pasts to a common length; they are gone afterwards. Their rows
   * follow this cache's, in the order given (what `keepRows` then indexes).
   */
  mergeFrom?: string[];
  /** Before the step (after `keepRows`), drop this many leading positions of the growing pasts (padding no row needs). */
  trimLeft?: number;
  /** Outputs returned at their last position only ([batch, length, …] → [batch, …]): the logits. */
  lastPositionOf?: string[];
  /**
   * A session of this worker that turns the feed `input` into the decoder's input `output` before
   * the step (a decoder-only model's `embed_tokens`: input_ids → inputs_embeds).
   */
  embed?: { session: string; input: string; output: string };
}

export type PoolToWorker =
  | { kind: 'run'; id: number; session: string; feeds: NamedTensors; outputNames: string[]; cache?: CacheStep }
  /** Frees a decoder cache (its rows finished or their callers went away). */
  | { kind: 'release_cache'; cacheId: string }
  | { kind: 'close' }
  /** Fault injection: exit the worker thread at once, as a crash would. */
  | { kind: 'crash' };
