/** GET /healthz (alive), GET /readyz (models loaded and warm), GET /v1/models. */
import { Router } from 'express';
import type { ModelRegistry } from '../model-registry.js';
import { openAiModelList } from '../wire.js';
import { modelsShownTo } from '../access/access-control.js';

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
    res.json(openAiModelList(registry, modelsShownTo(res.locals.principal)));
  });
  return router;
}
