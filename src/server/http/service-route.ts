/** The HTTP route of a task's service: parses and shapes only; the service does the work. */
import type { RequestHandler } from 'express';
import { newCallContext, type ServiceDeps, type TaskService } from '../services/index.js';

export function serviceRoute(service: TaskService, deps: ServiceDeps, defaultTimeoutMs: number): RequestHandler {
  return async (req, res) => {
    const call = newCallContext(res.locals.signal, Date.now() + defaultTimeoutMs);
    res.locals.call = call; // the access log and metrics read the resolved model from it
    const answer = await service.run(deps, res.locals.rawRequest, call);
    if (res.headersSent) return; // answered meanwhile (a shutdown's 503)
    const binary = service.http.binary?.(answer, { prefers: (type) => req.accepts(['application/json', type]) === type });
    if (binary) {
      res.set(binary.headers ?? {}).type(binary.contentType).send(Buffer.from(binary.body.buffer, binary.body.byteOffset, binary.body.byteLength));
      return;
    }
    res.json(service.http.answer ? service.http.answer(answer) : answer);
  };
}
