/**
 * What every task's loader produces: a handle on one served model that owns its worker pool
 * (one session per component in each worker), one batcher per component (its own queue bound and
 * metrics), and the task's pipeline object (`handler`). The server knows models only through this
 * shape; what a task does lives in its handler and its service.
 */
import type { Logger } from 'pino';
import type { AttentionUnavailableError } from '../models/attention/attention-taps.js';
import type { AttentionExplainer } from './attention/attention-explainer.js';
import type { Dtype } from '../models/dtypes.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { ExecutionProvider } from '../models/session/execution-providers.js';
import type { TunedLayout } from '../models/session/layout-tuning.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import { encoderRunBatch, type EncodedRow, type EncoderIo } from './batched-encoder.js';
import { Batcher, type BatcherEvents, type RunBatch } from './batcher.js';
import type { EmbeddingCacheOptions } from './embedding-cache.js';
import type { GenerationEvents } from './generation/lockstep-scheduler.js';
import type { InstanceSlots } from './instance-slots.js';
import type { Task } from './tasks.js';

/** How long closing a model waits for its running batches. */
const DRAIN_TIMEOUT_MS = 10_000;

/** Everything needed to load one served model (settings already resolved by precedence). */
export interface ModelSpec {
  id: string;
  dir: string;
  task: Task;
  variant: Dtype;
  instances: number;
  intraOpThreads: number;
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
  providers: ExecutionProvider[];
  requireProvider: boolean;
  /** Busy-wait after runs: only worth it when this is the one session in the process. */
  allowSpinning: boolean;
  /** CLIP: exp(logit_scale) of the trained model (100 for the OpenAI checkpoints). */
  logitScale?: number;
  /**
   * Visual chat (Idefics3): each image split into tiles of the view size plus a global view, as
   * the processor's `do_image_splitting` does (many more image tokens; off by default on CPU).
   */
  imageSplitting?: boolean;
  /** Where instances, intraOpThreads and maxBatchSize came from (planned when absent). */
  layoutSource?: LayoutSource;
  /** Present when some of them were not configured: the cores a tuning may split, and what it must keep. */
  tunable?: { cores: number; fixed: Partial<TunedLayout> };
}

/** configured: the operator set all of them; planned: shared out by the thread budget; tuned: timed on this machine. */
export type LayoutSource = 'configured' | 'planned' | 'tuned';

export interface LoadDeps {
  logger?: Logger;
  /** The server's shared image preprocessing pool. */
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'splitViews' | 'recycle' | 'renderHeatmap'>;
  /** Batcher callbacks for one component of this model, e.g. its metrics. */
  batcherEvents?: (component: string) => BatcherEvents;
  /** Bytes the model's text-embedding cache may hold (CLIP), and its metrics. */
  embeddingCacheBytes?: number;
  embeddingCacheEvents?: Pick<EmbeddingCacheOptions, 'onHit' | 'onMiss' | 'onSize'>;
  onWorkerReplaced?: () => void;
  /** Bytes a text-generating model's decoder caches may hold in its workers. */
  decodeCacheBytes?: number;
  /** A decoder's scheduler callbacks (generation metrics). */
  generationEvents?: GenerationEvents;
}

/** One session of a model and the batcher in front of it (items: pixel values, token ids, ...). */
export interface ServedComponent<I, R = EncodedRow> {
  readonly name: string;
  readonly batcher: Batcher<I, R>;
  readonly maxQueueSize: number;
}

/** What the server sees of any component, whatever its items: queue, health, shutdown. */
export interface ComponentHandle {
  readonly name: string;
  readonly batcher: Pick<Batcher<unknown, unknown>, 'queueDepth' | 'inFlightBatches' | 'healthy' | 'retryAfterSeconds' | 'close' | 'drain'>;
  readonly maxQueueSize: number;
}

/** A component's batching, when it differs from the model's (CLIP's text tower takes bigger batches). */
export interface ComponentBatching {
  maxBatchSize: number;
  maxQueueSize: number;
  /** The pool's instances, when several components share them. */
  slots?: InstanceSlots | undefined;
}

export interface LoadedModel<H = unknown> {
  family: string;
  provider: ExecutionProvider;
  randomWeights: boolean;
  /** The task's pipeline (an ImageClassifier for image-classification, ...). */
  handler: H;
  /** By component name (`model` for a ViT; `text_model` and `vision_model` for CLIP). */
  components: Record<string, ComponentHandle>;
  /** Attention maps of the model's image encoder, or why it has none to read (a fused export). */
  attention?: AttentionExplainer | AttentionUnavailableError;
  /** Task-specific fields for `/v1/models` (e.g. `num_labels`). */
  describe(): Record<string, unknown>;
  pool: WorkerPool;
  /** Seconds spent creating sessions, and running the warm-up batches. */
  loadSeconds: number;
  warmupSeconds: number;
  close(): Promise<void>;
}

/**
 * A warmed-up component: `runBatch` has run at batch 1 and at the max batch size on every
 * instance (so no request pays first-run costs), then a batcher goes in front of it. Its health
 * probe is the warm-up item.
 */
export async function warmedComponent<I, R = EncodedRow>(
  name: string,
  runBatch: RunBatch<I, R>,
  warmupItem: () => I,
  spec: ModelSpec,
  deps: LoadDeps,
  batching: ComponentBatching = spec,
): Promise<ServedComponent<I, R>> {
  const signal = new AbortController().signal;
  for (const batchSize of new Set([1, batching.maxBatchSize])) {
    const items = Array.from({ length: batchSize }, warmupItem);
    await Promise.all(Array.from({ length: spec.instances }, () => runBatch(items, signal)));
  }
  const batcher = new Batcher<I, R>({
    runBatch,
    maxBatchSize: batching.maxBatchSize,
    maxQueueDelayMs: spec.maxQueueDelayMs,
    maxQueueSize: batching.maxQueueSize,
    concurrency: spec.instances,
    slots: batching.slots,
    probeItem: warmupItem,
    events: deps.batcherEvents?.(name),
  });
  return { name, batcher, maxQueueSize: batching.maxQueueSize };
}

/** An encoder component: fixed-shape float items stacked for session `io.session` (a ViT, a CLIP image tower). */
export function encoderComponent(
  pool: WorkerPool,
  io: EncoderIo,
  spec: ModelSpec,
  deps: LoadDeps,
  batching: ComponentBatching = spec,
): Promise<ServedComponent<Float32Array>> {
  const itemSize = io.itemDims.reduce((a, b) => a * b, 1);
  return warmedComponent<Float32Array>(io.session, encoderRunBatch(pool, io), () => new Float32Array(itemSize), spec, deps, batching);
}

/** Refuses new work on every component, lets running batches finish (bounded), then stops the workers. */
export async function closeModel(components: Record<string, ComponentHandle>, pool: WorkerPool): Promise<void> {
  const batchers = Object.values(components).map((c) => c.batcher);
  for (const batcher of batchers) batcher.close('the model is shutting down');
  const drained = Promise.all(batchers.map((b) => b.drain()));
  await Promise.race([drained, new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref())]);
  await pool.close();
}

/** Logs each execution provider that could not load, and the one used instead. */
export function logFallbacks(pool: WorkerPool, logger: Logger | undefined): void {
  for (const fallback of pool.fallbacks) {
    logger?.warn({ provider: fallback.provider, reason: fallback.message, using: pool.provider }, 'execution provider unavailable; falling back');
  }
}
