/** The HTTP route of a task's service: parses and shapes only; the service does the work. */
import type { RequestHandler, Response } from 'express';
import { newCallContext, runService, type CallContext, type ServiceDeps, type TaskService } from '../services/index.js';
import { toHttpError } from './error-handler.js';
import { EventStream, wantsStream } from './sse.js';

export function serviceRoute(service: TaskService, deps: ServiceDeps, defaultTimeoutMs: number): RequestHandler {
  return async (req, res) => {
    const call = newCallContext(res.locals.signal, Date.now() + defaultTimeoutMs);
    res.locals.call = call; // the access log and metrics read the resolved model from it
    call.principal = res.locals.principal;
    if (service.http.stream && wantsStream(res.locals.rawRequest)) return streamed(service, deps, call, res);
    const answer = await runService(service, deps, res.locals.rawRequest, call);
    if (res.headersSent) return; // answered meanwhile (a shutdown's 503)
    const binary = service.http.binary?.(answer, { prefers: (type) => req.accepts(['application/json', type]) === type });
    if (binary) {
      res.set(binary.headers ?? {}).type(binary.contentType).send(Buffer.from(binary.body.buffer, binary.body.byteOffset, binary.body.byteLength));
      return;
    }
    res.json(service.http.answer ? service.http.answer(answer) : answer);
  };
}

/**
 * A streamed answer: partial results as events while the service runs, then the answer. An error
 * before the first event is an ordinary error answer (status and JSON); after it, an error event.
 */
async function streamed(service: TaskService, deps: ServiceDeps, call: CallContext, res: Response): Promise<void> {
  const events = new EventStream(res, service.http.stream === 'openai' ? 'openai' : 'events');
  call.stream = (chunk) => events.send(chunk);
  let answer: object;
  try {
    answer = await runService(service, deps, res.locals.rawRequest, call);
  } catch (error) {
    if (!events.started) throw error;
    const apiError = toHttpError(error);
    res.locals.errorCode = apiError.code;
    return events.fail(apiError);
  }
  if (res.writableEnded) return; // answered meanwhile (a shutdown's 503)
  events.done(service.http.answer ? service.http.answer(answer) : answer);
}
