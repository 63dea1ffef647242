/**
 * Counts each API request in the request-level metrics once it is answered (or abandoned), and
 * writes one structured access-log line for it.
 */
import type { RequestHandler } from 'express';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import type { Task } from '../../pipelines/registry.js';

/** Also admits the request (before its body is read): over the limits it answers 429 at once. */
export function observeRequest(metrics: ServerMetrics, admission: Admission, task: Task): RequestHandler {
  return (req, res, next) => {
    const finish = metrics.startRequest('http');
    const started = performance.now();
    let leave: (() => void) | undefined;
    res.on('close', () => {
      leave?.();
      const code = res.locals.errorCode ?? (res.writableFinished ? 'ok' : 'cancelled');
      const model = res.locals.modelId ?? 'unknown';
      finish({ model, task, code });
      res.locals.log.info(
        { method: req.method, path: req.path, task, model, status: res.statusCode, code, duration_ms: Math.round((performance.now() - started) * 100) / 100 },
        'request done',
      );
    });
    try {
      leave = admission.enter(task);
    } catch (error) {
      return next(error);
    }
    next();
  };
}
