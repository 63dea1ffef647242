/** POST /v1/classify: image -> top-k labels. Parses and shapes only; the service does the work. */
import type { RequestHandler } from 'express';
import { classifyService, type CallContext } from '../classify-service.js';
import type { ModelRegistry } from '../model-registry.js';

const RANDOM_WEIGHTS_NOTICE = 'this model has random weights (demo): its labels mean nothing';

export function classifyHandler(registry: ModelRegistry, imageBytesLimit: number, defaultTimeoutMs: number): RequestHandler {
  return async (_req, res) => {
    const call: CallContext = { signal: res.locals.signal, deadlineMs: Date.now() + defaultTimeoutMs, metricModel: 'unknown' };
    res.locals.call = call; // the access log and metrics read the resolved model from it
    const body = await classifyService(registry, imageBytesLimit, res.locals.rawRequest, call);
    if (res.headersSent) return; // answered meanwhile (a shutdown's 503)
    res.json(body.random_weights ? { ...body, notice: RANDOM_WEIGHTS_NOTICE } : body);
  };
}
