/**
 * The HTTP side of access control (src/server/access/access-control.ts): every request outside the
 * open paths presents its key (`Authorization: Bearer …`) and takes a rate slot before any route
 * reads it; refusals answer in the table's shape (401 `unauthorized`, 429 `rate_limited` with
 * Retry-After). The principal rides on `res.locals` to the services, which check its tasks and models.
 */
import type { RequestHandler } from 'express';
import { keyIdOf, type AccessControl } from '../access/access-control.js';
import type { Principal } from '../access/principal.js';
import { toApiError } from '../../errors.js';
import type { ServerMetrics } from '../metrics.js';

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
  namespace Express {
    interface Locals {
      /** Who the request acts for (set by the access gate; absent on open paths). */
      principal?: Principal;
    }
  }
}

export function accessGate(access: AccessControl, metrics: ServerMetrics): RequestHandler {
  return (req, res, next) => {
    if (access.isOpen(req.path)) return next();
    try {
      const { principal, release } = access.admit({ authorization: req.get('authorization'), remoteAddress: req.socket.remoteAddress, forwardedFor: req.get('x-forwarded-for') });
      res.locals.principal = principal;
      // The key id (never the key) in every log line of the request.
      const keyId = keyIdOf(principal);
      if (keyId) res.locals.log = res.locals.log.child({ key_id: keyId });
      res.once('close', release);
      next();
    } catch (error) {
      const refusal = toApiError(error);
      metrics.accessRefusals.inc({ transport: 'http', code: refusal.code });
      res.locals.log.info({ method: req.method, path: req.path, code: refusal.code }, 'request refused');
      if (refusal.code === 'unauthorized') res.setHeader('WWW-Authenticate', 'Bearer');
      next(refusal);
    }
  };
}
