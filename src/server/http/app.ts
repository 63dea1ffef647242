/** The express app: thin routes over the model registry; every error in one JSON shape. */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Limits } from '../config.js';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import { classifyHandler } from './classify-route.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { imageBody } from './image-body.js';
import { observeRequest } from './observe-request.js';
import { requestContext } from './request-context.js';
import { statusRoutes } from './status-routes.js';

export interface HttpAppDeps {
  registry: ModelRegistry;
  logger: Logger;
  limits: Limits;
  requestTimeoutMs: number;
  metrics: ServerMetrics;
  admission: Admission;
}

export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestContext(deps.logger));
  app.use(statusRoutes(deps.registry));
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  app.post(
    '/v1/classify',
    observeRequest(deps.metrics, deps.admission, 'image-classification'),
    ...imageBody(deps.limits),
    classifyHandler(deps.registry, deps.limits.imageBytes, deps.requestTimeoutMs),
  );
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
