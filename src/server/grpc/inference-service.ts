/**
 * gRPC handlers of multimodal.v1.InferenceService: a unary RPC per task service (and a
 * server-streaming one for a service that streams), the message
 * turned into the same raw request as HTTP's, the same service called. No logic of their own.
 */
import { setMaxListeners } from 'node:events';
import type { sendUnaryData, ServerUnaryCall, ServerWritableStream, ServiceError, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toApiError } from '../../errors.js';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import { newCallContext, runService, TASK_SERVICES, type ServiceDeps, type TaskService } from '../services/index.js';
import { keyIdOf, modelsShownTo, requireTask, type AccessControl, type Admitted } from '../access/access-control.js';
import { alignmentList, modelList } from '../wire.js';
import { toGrpcError } from './grpc-errors.js';
import { requireDecoded } from './tolerant-decoding.js';

export interface InferenceServiceDeps {
  registry: ModelRegistry;
  metrics: ServerMetrics;
  logger: Logger;
  requestTimeoutMs: number;
  /** What the task services need (the same object HTTP's routes get). */
  services: ServiceDeps;
  admission: Admission;
  access: AccessControl;
}

/** What unary and server-streaming calls share. */
type AnyCall = ServerUnaryCall<Record<string, unknown>, unknown> | ServerWritableStream<Record<string, unknown>, unknown>;

/** The call's deadline in Date.now() ms, capped by the server's default timeout. */
function deadlineOf(call: AnyCall, defaultTimeoutMs: number): number {
  const deadline = call.getDeadline();
  const fromCall = deadline instanceof Date ? deadline.getTime() : deadline;
  return Math.min(Number.isFinite(fromCall) ? fromCall : Infinity, Date.now() + defaultTimeoutMs);
}

/** An AbortSignal that fires when the client cancels or the call's deadline passes. */
function signalOf(call: AnyCall): AbortSignal {
  const controller = new AbortController();
  setMaxListeners(10_000, controller.signal); // one listener per queued item of the call
  call.once('cancelled', () => controller.abort());
  return controller.signal;
}

/** The address part of a grpc-js peer string ("ipv4:127.0.0.1:5555", "ipv6:[::1]:5555"). */
function peerAddress(peer: string): string {
  const address = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const match = /^\[(.*)\]:\d+$/.exec(address) ?? /^(.*):\d+$/.exec(address);
  return match?.[1] ?? address;
}

/**
 * The message without proto-loader's virtual fields for proto3 `optional` (`_top_k: 'top_k'`,
 * from `oneofs: true`): the services' strict schemas see only real fields.
 */
function withoutSyntheticOneofs(message: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(message).filter(([key]) => !key.startsWith('_')));
}

export function inferenceService(deps: InferenceServiceDeps): UntypedServiceImplementation {
  const { registry, metrics, logger } = deps;

  /**
   * The call's key (metadata `authorization: Bearer …`) and a rate slot, or the refusal sent as
   * the call's status (UNAUTHENTICATED, RESOURCE_EXHAUSTED) and undefined.
   */
  function admitCaller(call: ServerUnaryCall<unknown, unknown> | AnyCall, refuse: (error: Partial<ServiceError>) => void): Admitted | undefined {
    try {
      const authorization = call.metadata.get('authorization')[0];
      return deps.access.admit({ authorization: typeof authorization === 'string' ? authorization : undefined, remoteAddress: peerAddress(call.getPeer()) });
    } catch (error) {
      const refusal = toApiError(error);
      metrics.accessRefusals.inc({ transport: 'grpc', code: refusal.code });
      refuse(toGrpcError(refusal));
      return undefined;
    }
  }

  /**
   * One task's RPC: admission, the service with the message as its raw request, metrics. `reply`
   * sends the answer or the error (a unary callback, or the end of a stream); `stream`, when
   * set, receives the partial results.
   */
  async function serve(service: TaskService, toRaw: (message: Record<string, unknown>) => unknown, call: AnyCall, reply: (error: Partial<ServiceError> | null, response?: unknown) => void, stream?: (chunk: object) => void): Promise<void> {
    const admitted = admitCaller(call, reply);
    if (!admitted) return;
    const finish = metrics.startRequest('grpc');
    const context = newCallContext(signalOf(call), deadlineOf(call, deps.requestTimeoutMs));
    context.principal = admitted.principal;
    if (stream) context.stream = stream;
    let answered = false;
    const answer = (error: unknown, response?: unknown) => {
      if (answered) return; // a shutdown's 503 may have answered first
      answered = true;
      const apiError = error === null ? undefined : toApiError(error);
      finish({ ...context.labels, task: service.name ?? service.task, code: apiError?.code ?? 'ok', keyId: keyIdOf(admitted.principal) });
      if (apiError?.code === 'internal') logger.error({ err: error, transport: 'grpc', model: context.labels.model }, 'internal error');
      if (apiError) reply(toGrpcError(apiError));
      else reply(null, response);
    };
    let leave: (() => void) | undefined;
    try {
      requireDecoded(call.request);
      leave = deps.admission.enter(service.task, { client: peerAddress(call.getPeer()), onShutdown: (error) => answer(error) });
      const result = await runService(service, deps.services, toRaw(withoutSyntheticOneofs(call.request)), context);
      answer(null, service.grpc?.answer ? service.grpc.answer(result) : result);
    } catch (error) {
      answer(error);
    } finally {
      leave?.();
      admitted.release();
    }
  }

  /** The server-streaming RPC of a service that streams: `{delta}` events, then `{done}` or the error status. */
  function streaming(service: TaskService, toRaw: (message: Record<string, unknown>) => unknown) {
    return (call: ServerWritableStream<Record<string, unknown>, unknown>) => {
      const write = (event: object) => void (!call.cancelled && !call.writableEnded && call.write(event));
      const reply = (error: Partial<ServiceError> | null, response?: unknown) => {
        if (call.cancelled) return;
        if (error) return void call.emit('error', error);
        write({ done: response });
        call.end();
      };
      void serve(service, toRaw, call, reply, (chunk) => write({ delta: chunk }));
    };
  }

  const { alignments } = deps.services;
  /** A unary RPC that is not a task: its answer, or the error in the table's words. */
  const simple =
    <T>(answer: (request: T, admitted: Admitted) => unknown) =>
    (call: ServerUnaryCall<T, unknown>, callback: sendUnaryData<unknown>) => {
      const admitted = admitCaller(call, (error) => callback(error));
      if (!admitted) return;
      Promise.resolve()
        .then(() => {
          requireDecoded(call.request);
          return answer(call.request, admitted);
        })
        .then(
          (response) => callback(null, response),
          (error: unknown) => callback(toGrpcError(toApiError(error))),
        )
        .finally(admitted.release);
    };
  const requireAlignments = ({ principal }: Admitted) => requireTask(principal, 'alignments');
  const handlers: UntypedServiceImplementation = {
    ListModels: simple((_request, { principal }) => ({ models: modelList(registry, modelsShownTo(principal)) })),
    ListAlignments: simple((_request, admitted) => {
      requireAlignments(admitted);
      return { alignments: alignmentList(alignments) };
    }),
    DeleteAlignment: simple(async (request: { name?: string }, admitted) => {
      requireAlignments(admitted);
      const name = request.name ?? '';
      await alignments.delete(name);
      return { name, deleted: true };
    }),
  };
  for (const service of TASK_SERVICES) {
    if (!service.grpc) continue;
    const { request, method, streamMethod } = service.grpc;
    if (method) {
      handlers[method] = (call: ServerUnaryCall<Record<string, unknown>, unknown>, callback: sendUnaryData<unknown>) =>
        void serve(service, request, call, (error, response) => (error ? callback(error) : callback(null, response)));
    }
    if (streamMethod) handlers[streamMethod] = streaming(service, request);
  }
  return handlers;
}
