/** The express app: thin routes over the model registry; every error in one JSON shape. */
import express, { type Express } from 'express';
import type { Logger } from 'pino';
import type { Limits } from '../config.js';
import type { Admission } from '../admission.js';
import type { AccessControl } from '../access/access-control.js';
import { accessGate } from './access-gate.js';
import type { ServerMetrics } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import { TASK_SERVICES, type ServiceDeps } from '../services/index.js';
import { mcpRoutes } from '../mcp/mcp-route.js';
import { openApiRoutes } from './openapi-routes.js';
import { playgroundRoutes } from './playground-routes.js';
import { SERVER_VERSION } from '../version.js';
import { alignmentRoutes } from './alignment-routes.js';
import { JSON_SHAPE_LIMITS } from './json-guard.js';
import { errorHandler, notFoundHandler } from './error-handler.js';
import { imageBody } from './image-body.js';
import { observeRequest } from './observe-request.js';
import { requestContext } from './request-context.js';
import { serviceRoute } from './service-route.js';
import { statusRoutes } from './status-routes.js';

export interface HttpAppDeps {
  registry: ModelRegistry;
  logger: Logger;
  limits: Limits;
  requestTimeoutMs: number;
  metrics: ServerMetrics;
  admission: Admission;
  access: AccessControl;
  /** What the task services need (the same object gRPC's handlers get). */
  services: ServiceDeps;
}

export function createHttpApp(deps: HttpAppDeps): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(requestContext(deps.logger));
  app.use(accessGate(deps.access, deps.metrics));
  app.use(statusRoutes(deps.registry));
  app.use(openApiRoutes());
  app.use(playgroundRoutes());
  app.get('/metrics', async (_req, res) => {
    res.setHeader('Content-Type', deps.metrics.registry.contentType);
    res.end(await deps.metrics.registry.metrics());
  });
  for (const service of TASK_SERVICES) {
    app.post(
      service.http.path,
      observeRequest(deps.metrics, deps.admission, service.task, service.name),
      ...imageBody(deps.limits, {
        kinds: service.http.body === 'json' ? ['json'] : service.http.body === 'form' ? ['multipart', 'json'] : undefined,
        jsonShape: { ...JSON_SHAPE_LIMITS, maxValues: service.http.maxJsonValues ?? JSON_SHAPE_LIMITS.maxValues },
        multipart: service.http.multipart,
      }),
      serviceRoute(service, deps.services, deps.requestTimeoutMs),
    );
  }
  app.use(alignmentRoutes(deps.services.alignments));
  app.use(mcpRoutes({ ...deps, jsonBodyBytes: deps.limits.jsonBodyBytes, version: SERVER_VERSION }));
  app.use(notFoundHandler);
  app.use(errorHandler);
  return app;
}
