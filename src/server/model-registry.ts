/**
 * The served models and their states. Loading happens in the background after the server
 * listens, so /healthz answers at once and /readyz tells when every model is warm.
 */
import type { Logger } from 'pino';
import { ApiError } from '../errors.js';
import { loadModel, type LoadDeps, type LoadedModel, type ModelSpec, type Task, type TaskHandlers } from '../pipelines/registry.js';
import type { ModelLabels, ServerMetrics } from './metrics.js';
import type { MissingModel } from './model-sources.js';
import { modelFiles, type ModelFile } from './model-files.js';
import type { AgreementStatus } from './variant-agreements.js';

export type ModelState = 'loading' | 'ready' | 'unhealthy' | 'failed' | 'missing';

export interface ServedModel {
  /** undefined for a missing model (a catalog id not in the cache). */
  spec?: ModelSpec;
  /** The served id: `id` or `id:tag` for a dtype other than the default. */
  id: string;
  /** How metrics name it: the id without its tag, and the tag. */
  labels: ModelLabels;
  task: Task;
  state: ModelState;
  error?: string;
  loaded?: LoadedModel;
  /** A non-default variant: how closely it follows the fp32 model (variant-agreements.ts). */
  agreement?: AgreementStatus;
  /** The ONNX files it runs and their sizes (once loaded). */
  files?: ModelFile[];
}

export interface ModelStatus {
  id: string;
  task: Task;
  state: ModelState;
  error?: string;
}

export type ModelLoader = (spec: ModelSpec, deps: LoadDeps) => Promise<LoadedModel>;

/** A ready model of task T, with its task's handler. */
export type ReadyModel<T extends Task = Task> = ServedModel & { spec: ModelSpec; loaded: LoadedModel<TaskHandlers[T]> };

const UNKNOWN: ModelLabels = { model: 'unknown', variant: 'unknown' };

/** Metric labels of a served id: `vit:q8` → model `vit`, variant `q8` (ids cannot contain ':'). */
function labelsOf(id: string, variant: string | undefined): ModelLabels {
  const [model = id, tag] = id.split(':');
  return { model, variant: tag ?? variant ?? 'fp32' };
}

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  private closed = false;
  /** When the server started serving (Date.now() ms): `created` in the OpenAI model list. */
  readonly createdAt = Date.now();

  constructor(
    specs: ModelSpec[],
    missing: MissingModel[],
    private readonly deps: {
      logger: Logger;
      preprocessor: LoadDeps['preprocessor'];
      /** Bytes each CLIP model's text-embedding cache may hold. */
      embeddingCacheBytes?: number;
      decodeCacheBytes?: number;
      metrics?: ServerMetrics;
      /** Called after any model changes state (readiness may have changed). */
      onStateChange?: () => void;
    },
    private readonly loader: ModelLoader = loadModel,
  ) {
    for (const spec of specs) this.models.set(spec.id, { spec, id: spec.id, labels: labelsOf(spec.id, spec.variant), task: spec.task, state: 'loading' });
    for (const m of missing) this.models.set(m.id, { id: m.id, labels: labelsOf(m.id, undefined), task: m.task, state: 'missing', error: m.message });
    // Series the server knows in advance start at 0 (a dashboard's panel shows 0, not "no data").
    for (const model of this.models.values()) {
      deps.metrics?.modelReady.set(model.labels, 0);
      deps.metrics?.workerRestarts.inc(model.labels, 0);
    }
  }

  /** Loads every model concurrently; failures are recorded per model, never thrown. */
  async loadAll(): Promise<void> {
    const loading = [...this.models.values()].filter((m): m is ServedModel & { spec: ModelSpec } => m.spec !== undefined);
    await Promise.all(loading.map((model) => this.load(model)));
  }

  private async load(model: ServedModel & { spec: ModelSpec }): Promise<void> {
    const { logger, metrics } = this.deps;
    const { id, labels } = model;
    // The model is unhealthy while any of its components is.
    const unhealthy = new Set<string>();
    try {
      const loaded = await this.loader(model.spec, {
        logger,
        preprocessor: this.deps.preprocessor,
        batcherEvents: (component) => ({
          ...metrics?.batcherEvents(labels, component),
          onHealthChange: (healthy) => {
            if (healthy) unhealthy.delete(component);
            else unhealthy.add(component);
            model.state = unhealthy.size === 0 ? 'ready' : 'unhealthy';
            metrics?.modelReady.set(labels, unhealthy.size === 0 ? 1 : 0);
            this.deps.onStateChange?.();
            logger.warn({ model: id, component, healthy }, 'model health changed');
          },
        }),
        onWorkerReplaced: () => metrics?.workerRestarts.inc(labels),
        generationEvents: metrics?.generationEvents(labels),
        embeddingCacheBytes: this.deps.embeddingCacheBytes,
        decodeCacheBytes: this.deps.decodeCacheBytes,
        embeddingCacheEvents: metrics && {
          onHit: () => metrics.embeddingCacheRequests.inc({ ...labels, result: 'hit' }),
          onMiss: () => metrics.embeddingCacheRequests.inc({ ...labels, result: 'miss' }),
          onSize: (bytes) => metrics.embeddingCacheBytes.set(labels, bytes),
        },
      });
      if (this.closed) return void (await loaded.close());
      model.loaded = loaded;
      model.files = modelFiles(model.spec.dir, Object.values(loaded.pool.files));
      model.state = 'ready';
      if (metrics) {
        metrics.modelInfo.set({ ...labels, task: model.task, family: loaded.family, execution_provider: loaded.provider }, 1);
        metrics.loadSeconds.observe(labels, loaded.loadSeconds);
        metrics.warmupSeconds.observe(labels, loaded.warmupSeconds);
        metrics.modelReady.set(labels, 1);
      }
      this.deps.onStateChange?.();
      logger.info(
        { model: id, provider: loaded.provider, load_seconds: loaded.loadSeconds, warmup_seconds: loaded.warmupSeconds },
        'model ready',
      );
    } catch (error) {
      model.state = 'failed';
      model.error = error instanceof Error ? error.message : String(error);
      this.deps.onStateChange?.();
      logger.error({ model: id, err: error }, 'model failed to load');
    }
  }

  get ids(): string[] {
    return [...this.models.keys()];
  }

  get(id: string): ServedModel | undefined {
    return this.models.get(id);
  }

  private modelsOf(task: Task): ServedModel[] {
    return [...this.models.values()].filter((m) => m.task === task);
  }

  /** Loaded, healthy models of a task. */
  readyModels<T extends Task>(task: T): ReadyModel<T>[] {
    return this.modelsOf(task).filter((m) => m.state === 'ready' && m.loaded !== undefined) as ReadyModel<T>[];
  }

  /** The model a request without a `model` field goes to: the first ready one of the task, else the first. */
  defaultModelId(task: Task): string | undefined {
    const candidates = this.modelsOf(task);
    return (candidates.find((m) => m.state === 'ready') ?? candidates[0])?.id;
  }

  /** The model to serve a request: the named one, else the first model of the task. */
  resolve<T extends Task>(task: T, id: string | undefined): ReadyModel<T> {
    const candidates = this.modelsOf(task);
    const wanted = id ?? this.defaultModelId(task);
    const model = candidates.find((m) => m.id === wanted);
    if (!model) {
      const served = candidates.map((m) => m.id).join(', ') || 'none';
      throw new ApiError(
        'model_not_found',
        id === undefined ? `no model serves ${task}` : `model '${id}' is not served for ${task} (served: ${served})`,
      );
    }
    if (model.state === 'loading') throw new ApiError('not_ready', `model '${model.id}' is still loading`, { retryAfterSeconds: 5 });
    if (model.state === 'failed') throw new ApiError('not_ready', `model '${model.id}' failed to load: ${model.error}`);
    if (model.state === 'missing') throw new ApiError('not_ready', model.error ?? `model '${model.id}' is missing`);
    // The registry only holds models loaded by their task's row, so the handler is that task's.
    return model as ReadyModel<T>;
  }

  /**
   * This registry as a caller allowed only some models sees it (an API key's `models`): the
   * default model of a task is the first allowed one, and resolving another answers `forbidden`.
   * Everything else reads through to this registry.
   */
  scopedTo(allows: (modelId: string) => boolean, who: string): ModelRegistry {
    const scoped = Object.create(this) as ModelRegistry;
    scoped.defaultModelId = (task) => {
      const candidates = this.modelsOf(task).filter((m) => allows(m.id));
      return (candidates.find((m) => m.state === 'ready') ?? candidates[0])?.id ?? this.defaultModelId(task);
    };
    scoped.resolve = (task, id) => {
      const model = this.resolve(task, id ?? scoped.defaultModelId(task));
      if (!allows(model.id)) throw new ApiError('forbidden', `${who} may not use model '${model.id}'`);
      return model;
    };
    return scoped;
  }

  /** Metric labels for a requested model id: a served model's, else "unknown" (never raw client text). */
  metricLabels(id: string | undefined): ModelLabels {
    return (id !== undefined && this.models.get(id)?.labels) || UNKNOWN;
  }

  statuses(): ModelStatus[] {
    return [...this.models.values()].map((m) => ({
      id: m.id,
      task: m.task,
      state: m.state,
      ...(m.error ? { error: m.error } : {}),
    }));
  }

  /** Ready when nothing is still loading and at least one model serves. */
  get ready(): boolean {
    const states = [...this.models.values()].map((m) => m.state);
    return states.length > 0 && !states.includes('loading') && states.includes('ready');
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.models.values()].map((m) => m.loaded?.close()));
  }
}
