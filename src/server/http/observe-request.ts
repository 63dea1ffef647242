/**
 * Counts each API request in the request-level metrics once it is answered (or abandoned), and
 * writes one structured access-log line for it.
 */
import type { RequestHandler } from 'express';
import type { ServerMetrics } from '../metrics.js';

export function observeRequest(metrics: ServerMetrics, task: string): RequestHandler {
  return (req, res, next) => {
    const finish = metrics.startRequest('http');
    const started = performance.now();
    res.on('close', () => {
      const code = res.locals.errorCode ?? (res.writableFinished ? 'ok' : 'cancelled');
      const model = res.locals.modelId ?? 'unknown';
      finish({ model, task, code });
      res.locals.log.info(
        { method: req.method, path: req.path, task, model, status: res.statusCode, code, duration_ms: Math.round((performance.now() - started) * 100) / 100 },
        'request done',
      );
    });
    next();
  };
}
