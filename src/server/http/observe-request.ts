/** Counts each API request in the request-level metrics once it is answered (or abandoned). */
import type { RequestHandler } from 'express';
import type { ServerMetrics } from '../metrics.js';

export function observeRequest(metrics: ServerMetrics, task: string): RequestHandler {
  return (_req, res, next) => {
    const finish = metrics.startRequest('http');
    res.on('close', () => {
      const code = res.locals.errorCode ?? (res.writableFinished ? 'ok' : 'cancelled');
      finish({ model: res.locals.modelId ?? 'unknown', task, code });
    });
    next();
  };
}
