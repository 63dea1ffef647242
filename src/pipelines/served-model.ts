/**
 * What every task's loader produces: a handle on one served model that owns its worker pool
 * (one session per component in each worker), one batcher per component (its own queue bound and
 * metrics), and the task's pipeline object (`handler`). The server knows models only through this
 * shape; what a task does lives in its handler and its service.
 */
import type { Logger } from 'pino';
import type { Dtype } from '../models/dtypes.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { ExecutionProvider } from '../models/session/execution-providers.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import { encoderRunBatch, type EncodedRow, type EncoderIo } from './batched-encoder.js';
import { Batcher, type BatcherEvents, type RunBatch } from './batcher.js';
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
}

export interface LoadDeps {
  logger?: Logger;
  /** The server's shared image preprocessing pool. */
  preprocessor: Pick<PreprocessPool, 'preprocess'>;
  /** Batcher callbacks for one component of this model, e.g. its metrics. */
  batcherEvents?: (component: string) => BatcherEvents;
  onWorkerReplaced?: () => void;
}

/** One session of a model and the batcher in front of it. */
export interface ServedComponent {
  readonly name: string;
  readonly batcher: Batcher<Float32Array, EncodedRow>;
  readonly maxQueueSize: number;
}

export interface LoadedModel<H = unknown> {
  family: string;
  provider: ExecutionProvider;
  randomWeights: boolean;
  /** The task's pipeline (an ImageClassifier for image-classification, ...). */
  handler: H;
  /** By component name (`model` for a ViT; `text_model` and `vision_model` for CLIP). */
  components: Record<string, ServedComponent>;
  /** Task-specific fields for `/v1/models` (e.g. `num_labels`). */
  describe(): Record<string, unknown>;
  pool: WorkerPool;
  /** Seconds spent creating sessions, and running the warm-up batches. */
  loadSeconds: number;
  warmupSeconds: number;
  close(): Promise<void>;
}

/** Runs batch 1 and the max batch size once on every instance, so no request pays first-run costs. */
async function warmUp(runBatch: RunBatch<Float32Array, EncodedRow>, itemSize: number, spec: ModelSpec): Promise<void> {
  const signal = new AbortController().signal;
  for (const batchSize of new Set([1, spec.maxBatchSize])) {
    const items = Array.from({ length: batchSize }, () => new Float32Array(itemSize));
    await Promise.all(Array.from({ length: spec.instances }, () => runBatch(items, signal)));
  }
}

/**
 * A warmed-up encoder component: the batcher that stacks fixed-shape items for session `io.session`
 * of `pool` (a ViT classifier, a CLIP tower). Its health probe is the warm-up input.
 */
export async function encoderComponent(pool: WorkerPool, io: EncoderIo, spec: ModelSpec, deps: LoadDeps): Promise<ServedComponent> {
  const runBatch = encoderRunBatch(pool, io);
  const itemSize = io.itemDims.reduce((a, b) => a * b, 1);
  await warmUp(runBatch, itemSize, spec);
  const batcher = new Batcher<Float32Array, EncodedRow>({
    runBatch,
    maxBatchSize: spec.maxBatchSize,
    maxQueueDelayMs: spec.maxQueueDelayMs,
    maxQueueSize: spec.maxQueueSize,
    concurrency: spec.instances,
    // An unhealthy component probes itself with the warm-up input once its cooldown ends.
    probeItem: () => new Float32Array(itemSize),
    events: deps.batcherEvents?.(io.session),
  });
  return { name: io.session, batcher, maxQueueSize: spec.maxQueueSize };
}

/** Refuses new work on every component, lets running batches finish (bounded), then stops the workers. */
export async function closeModel(components: Record<string, ServedComponent>, pool: WorkerPool): Promise<void> {
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
