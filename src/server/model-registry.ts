/**
 * The served models and their states. Loading happens in the background after the server
 * listens, so /healthz answers at once and /readyz tells when every model is warm.
 */
import type { Logger } from 'pino';
import { ApiError } from '../errors.js';
import { loadModel, type LoadDeps, type LoadedModel, type ModelSpec, type Task } from '../pipelines/registry.js';
import type { ServerMetrics } from './metrics.js';

export type ModelState = 'loading' | 'ready' | 'unhealthy' | 'failed';

export interface ServedModel {
  spec: ModelSpec;
  state: ModelState;
  error?: string;
  loaded?: LoadedModel;
}

export interface ModelStatus {
  id: string;
  task: Task;
  state: ModelState;
  error?: string;
}

export type ModelLoader = (spec: ModelSpec, deps: LoadDeps) => Promise<LoadedModel>;

export class ModelRegistry {
  private readonly models = new Map<string, ServedModel>();
  private closed = false;

  constructor(
    specs: ModelSpec[],
    private readonly deps: {
      logger: Logger;
      limits: LoadDeps['limits'];
      metrics?: ServerMetrics;
      /** Called after any model changes state (readiness may have changed). */
      onStateChange?: () => void;
    },
    private readonly loader: ModelLoader = loadModel,
  ) {
    for (const spec of specs) this.models.set(spec.id, { spec, state: 'loading' });
    for (const spec of specs) deps.metrics?.modelReady.set({ model: spec.id }, 0);
  }

  /** Loads every model concurrently; failures are recorded per model, never thrown. */
  async loadAll(): Promise<void> {
    await Promise.all([...this.models.values()].map((model) => this.load(model)));
  }

  private async load(model: ServedModel): Promise<void> {
    const { logger, metrics } = this.deps;
    const id = model.spec.id;
    try {
      const loaded = await this.loader(model.spec, {
        logger,
        limits: this.deps.limits,
        batcherEvents: {
          ...metrics?.batcherEvents(id),
          onHealthChange: (healthy) => {
            model.state = healthy ? 'ready' : 'unhealthy';
            metrics?.modelReady.set({ model: id }, healthy ? 1 : 0);
            this.deps.onStateChange?.();
            logger.warn({ model: id, healthy }, 'model health changed');
          },
        },
        onWorkerReplaced: () => metrics?.workerRestarts.inc({ model: id }),
      });
      if (this.closed) return void (await loaded.close());
      model.loaded = loaded;
      model.state = 'ready';
      if (metrics) {
        metrics.modelInfo.set({ model: id, task: model.spec.task, family: loaded.family, execution_provider: loaded.provider }, 1);
        metrics.loadSeconds.observe({ model: id }, loaded.loadSeconds);
        metrics.warmupSeconds.observe({ model: id }, loaded.warmupSeconds);
        metrics.modelReady.set({ model: id }, 1);
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

  /** The model to serve a request: the named one, else the first model of the task. */
  resolve(task: Task, id: string | undefined): ServedModel & { loaded: LoadedModel } {
    const candidates = [...this.models.values()].filter((m) => m.spec.task === task);
    const model = id === undefined ? candidates[0] : candidates.find((m) => m.spec.id === id);
    if (!model) {
      const served = candidates.map((m) => m.spec.id).join(', ') || 'none';
      throw new ApiError(
        'model_not_found',
        id === undefined ? `no model serves ${task}` : `model '${id}' is not served for ${task} (served: ${served})`,
      );
    }
    if (model.state === 'loading') throw new ApiError('not_ready', `model '${model.spec.id}' is still loading`, { retryAfterSeconds: 5 });
    if (model.state === 'failed') throw new ApiError('not_ready', `model '${model.spec.id}' failed to load: ${model.error}`);
    return model as ServedModel & { loaded: LoadedModel };
  }

  /** A metric label for a requested model id: served ids as they are, anything else "unknown". */
  metricLabel(id: string | undefined): string {
    return id !== undefined && this.models.has(id) ? id : 'unknown';
  }

  statuses(): ModelStatus[] {
    return [...this.models.values()].map((m) => ({
      id: m.spec.id,
      task: m.spec.task,
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
