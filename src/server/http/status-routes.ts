/** GET /healthz (alive), GET /readyz (models loaded and warm), GET /v1/models. */
import { Router } from 'express';
import type { ModelRegistry } from '../model-registry.js';

export function statusRoutes(registry: ModelRegistry): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', (_req, res) => {
    const ready = registry.ready;
    res.status(ready ? 200 : 503).json({ ready, models: registry.statuses() });
  });
  router.get('/v1/models', (_req, res) => {
    res.json({
      models: registry.ids.map((id) => {
        const model = registry.get(id)!;
        const { spec, loaded } = model;
        return {
          id,
          task: spec.task,
          state: model.state,
          ...(model.error ? { error: model.error } : {}),
          family: loaded?.family,
          variant: spec.variant,
          execution_provider: loaded?.provider,
          num_labels: loaded?.labels.length,
          random_weights: loaded?.randomWeights,
          instances: spec.instances,
          intra_op_threads: spec.intraOpThreads,
          batching: {
            max_batch_size: spec.maxBatchSize,
            max_queue_delay_ms: spec.maxQueueDelayMs,
            max_queue_size: spec.maxQueueSize,
          },
        };
      }),
    });
  });
  return router;
}
