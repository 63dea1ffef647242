/**
 * The one registry table: task -> pipeline -> model family -> loader. Adding a capability
 * (CLIP zero-shot, captioning, chat) adds a row here and its handler to `LoadedModel`.
 */
import type { Logger } from 'pino';
import type { Dtype } from '../models/dtypes.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { ExecutionProvider } from '../models/session/execution-providers.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import { loadVitModel, VIT_SESSION } from '../models/vit/load-vit.js';
import { encoderRunBatch, type EncodedRow } from './batched-encoder.js';
import { Batcher, type BatcherEvents, type RunBatch } from './batcher.js';
import { createImageClassifier, type ImageClassifier } from './image-classification.js';
import type { Task } from './tasks.js';

const DRAIN_TIMEOUT_MS = 10_000;

export const TASKS: Record<Task, { family: string }> = { 'image-classification': { family: 'vit' } };
export type { Task };

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
  /** Batcher callbacks, e.g. the metrics of this model. */
  batcherEvents?: BatcherEvents;
  onWorkerReplaced?: () => void;
}

export interface LoadedModel {
  family: string;
  provider: ExecutionProvider;
  randomWeights: boolean;
  labels: readonly string[];
  classifier: ImageClassifier;
  batcher: Batcher<Float32Array, EncodedRow>;
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

export async function loadModel(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel> {
  const logger = deps.logger?.child({ model: spec.id });
  const loadStarted = performance.now();
  const vit = await loadVitModel({ ...spec, logger, onWorkerReplaced: deps.onWorkerReplaced });
  const loadSeconds = (performance.now() - loadStarted) / 1000;
  for (const fallback of vit.pool.fallbacks) {
    logger?.warn({ provider: fallback.provider, reason: fallback.message, using: vit.pool.provider }, 'execution provider unavailable; falling back');
  }

  const runBatch = encoderRunBatch(vit.pool, { session: VIT_SESSION, inputName: 'pixel_values', itemDims: vit.itemDims, outputName: 'logits' });
  const itemSize = vit.itemDims[0] * vit.itemDims[1] * vit.itemDims[2];
  let warmupSeconds: number;
  let batcher: Batcher<Float32Array, EncodedRow>;
  let classifier: ImageClassifier;
  try {
    const warmupStarted = performance.now();
    await warmUp(runBatch, itemSize, spec);
    warmupSeconds = (performance.now() - warmupStarted) / 1000;
    batcher = new Batcher<Float32Array, EncodedRow>({
      runBatch,
      maxBatchSize: spec.maxBatchSize,
      maxQueueDelayMs: spec.maxQueueDelayMs,
      maxQueueSize: spec.maxQueueSize,
      concurrency: spec.instances,
      // An unhealthy model probes itself with the warm-up input once its cooldown ends.
      probeItem: () => new Float32Array(itemSize),
      events: deps.batcherEvents,
    });
    classifier = createImageClassifier({ labels: vit.labels, image: vit.image, preprocessor: deps.preprocessor, batcher });
  } catch (error) {
    await vit.pool.close();
    throw error;
  }
  return {
    family: TASKS[spec.task].family,
    provider: vit.pool.provider,
    randomWeights: vit.randomWeights,
    labels: vit.labels,
    classifier,
    batcher,
    pool: vit.pool,
    loadSeconds,
    warmupSeconds,
    async close() {
      // Refuse new work, let running batches finish (bounded), then stop the workers.
      batcher.close('the model is shutting down');
      await Promise.race([batcher.drain(), new Promise((resolve) => setTimeout(resolve, DRAIN_TIMEOUT_MS).unref())]);
      await vit.pool.close();
    },
  };
}
