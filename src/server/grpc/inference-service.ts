/**
 * gRPC handlers of multimodal.v1.InferenceService: parse the message into the same typed
 * request as HTTP, call the same pipeline, shape the answer. No logic of their own.
 */
import type { sendUnaryData, ServerUnaryCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { toApiError } from '../../errors.js';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import { classifyService, type CallContext } from '../classify-service.js';
import { modelList } from '../wire.js';
import { toGrpcError } from './grpc-errors.js';

export interface InferenceServiceDeps {
  registry: ModelRegistry;
  metrics: ServerMetrics;
  logger: Logger;
  requestTimeoutMs: number;
  imageBytesLimit: number;
  admission: Admission;
}

interface ClassifyMessage {
  image?: Uint8Array;
  top_k?: number;
  model?: string;
}

/** The call's deadline in Date.now() ms, capped by the server's default timeout. */
function deadlineOf(call: ServerUnaryCall<unknown, unknown>, defaultTimeoutMs: number): number {
  const deadline = call.getDeadline();
  const fromCall = deadline instanceof Date ? deadline.getTime() : deadline;
  return Math.min(Number.isFinite(fromCall) ? fromCall : Infinity, Date.now() + defaultTimeoutMs);
}

/** An AbortSignal that fires when the client cancels or the call's deadline passes. */
function signalOf(call: ServerUnaryCall<unknown, unknown>): AbortSignal {
  const controller = new AbortController();
  call.once('cancelled', () => controller.abort());
  return controller.signal;
}

/** The address part of a grpc-js peer string ("ipv4:127.0.0.1:5555", "ipv6:[::1]:5555"). */
function peerAddress(peer: string): string {
  const address = peer.replace(/^(ipv4|ipv6|unix):/, '');
  const match = /^\[(.*)\]:\d+$/.exec(address) ?? /^(.*):\d+$/.exec(address);
  return match?.[1] ?? address;
}

export function inferenceService(deps: InferenceServiceDeps): UntypedServiceImplementation {
  const { registry, metrics, logger } = deps;

  async function classify(call: ServerUnaryCall<ClassifyMessage, unknown>, callback: sendUnaryData<unknown>) {
    const finish = metrics.startRequest('grpc');
    const context: CallContext = { signal: signalOf(call), deadlineMs: deadlineOf(call, deps.requestTimeoutMs), metricModel: 'unknown' };
    let answered = false;
    const fail = (error: unknown) => {
      if (answered) return;
      answered = true;
      const apiError = toApiError(error);
      finish({ model: context.metricModel, task: 'image-classification', code: apiError.code });
      if (apiError.code === 'internal') logger.error({ err: error, transport: 'grpc', model: context.metricModel }, 'internal error');
      callback(toGrpcError(apiError));
    };
    let leave: (() => void) | undefined;
    try {
      leave = deps.admission.enter('image-classification', { client: peerAddress(call.getPeer()), onShutdown: fail });
      const { image, top_k, model } = call.request;
      const answer = await classifyService(registry, deps.imageBytesLimit, { image: image ?? new Uint8Array(), top_k, model }, context);
      if (answered) return;
      answered = true;
      finish({ model: context.metricModel, task: 'image-classification', code: 'ok' });
      callback(null, answer);
    } catch (error) {
      fail(error);
    } finally {
      leave?.();
    }
  }

  function listModels(_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) {
    callback(null, { models: modelList(registry) });
  }

  return {
    Classify: (call: ServerUnaryCall<ClassifyMessage, unknown>, callback: sendUnaryData<unknown>) => void classify(call, callback),
    ListModels: listModels,
  };
}
