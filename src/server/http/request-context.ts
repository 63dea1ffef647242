/** Per-request context: id, child logger, and an AbortSignal that fires when the client leaves. */
import { randomUUID } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import type { ErrorCode } from '../../errors.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      requestId: string;
      log: Logger;
      /** Aborted when the connection closes before the answer is sent. */
      signal: AbortSignal;
      errorCode?: ErrorCode;
      /** Set when Node itself answered the request (a request timeout), for the access log. */
      abandonedAs?: ErrorCode;
      /** Set by image-body.ts: the parsed body before schema validation. */
      bodyKind?: 'multipart' | 'json' | 'raw';
      rawRequest?: unknown;
      /** The service call: its `labels` name the served model that handled the request. */
      call?: { labels: { model: string; variant: string } };
    }
  }
}

const CLIENT_REQUEST_ID = /^[\w.:-]{1,128}$/;

export function requestContext(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const given = req.get('x-request-id');
    const requestId = given && CLIENT_REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('X-Request-Id', requestId);
    res.locals.requestId = requestId;
    res.locals.log = logger.child({ request_id: requestId });
    const controller = new AbortController();
    setMaxListeners(10_000, controller.signal); // one listener per queued item of the request
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
    res.locals.signal = controller.signal;
    next();
  };
}
