/**
 * Counts each API request in the request-level metrics once it is answered (or abandoned), and
 * writes one structured access-log line for it.
 */
import type { RequestHandler } from 'express';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import type { Task } from '../../pipelines/registry.js';
import { clip, ERROR_CODES } from '../../errors.js';
import { sendError } from './error-handler.js';
import { keyIdOf } from '../access/access-control.js';

/** nginx's code for a client that closed the connection before the answer. */
const CLIENT_CLOSED = 499;

/** Also admits the request (before its body is read): over the limits it answers 429 at once. */
export function observeRequest(metrics: ServerMetrics, admission: Admission, modelTask: Task, task: string = modelTask): RequestHandler {
  return (req, res, next) => {
    const finish = metrics.startRequest('http');
    const started = performance.now();
    let leave: (() => void) | undefined;
    res.on('close', () => {
      leave?.();
      const answered = res.writableFinished;
      const abandonedAs = res.locals.abandonedAs ?? 'cancelled';
      const code = answered ? (res.locals.errorCode ?? 'ok') : abandonedAs;
      // The model is known as soon as the service resolved it, even if the client left before the answer.
      const { model, variant } = res.locals.call?.labels ?? { model: 'unknown', variant: 'unknown' };
      finish({ model, variant, task, code, keyId: keyIdOf(res.locals.principal) });
      res.locals.log.info(
        { method: req.method, path: clip(req.path, 200), task, model, variant, status: answered ? res.statusCode : abandonedAs === 'cancelled' ? CLIENT_CLOSED : ERROR_CODES[abandonedAs].http, code, duration_ms: Math.round((performance.now() - started) * 100) / 100 },
        'request done',
      );
    });
    if (admission.isDraining) res.setHeader('Connection', 'close');
    try {
      leave = admission.enter(modelTask, {
        client: req.socket.remoteAddress,
        onShutdown: (error) => {
          if (!res.headersSent) res.setHeader('Connection', 'close'); // a stream under way has sent its headers
          res.locals.errorCode = error.code;
          sendError(res, error);
        },
      });
    } catch (error) {
      return next(error);
    }
    next();
  };
}
