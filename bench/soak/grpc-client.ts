/**
 * A grpc-js client of multimodal.v1.InferenceService for the soak (the .proto loaded at run time,
 * as the server does): unary and server-streaming calls under the soak's own answer deadline,
 * and a stream the client cancels after its first event.
 */
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { INFERENCE_PROTO, INFERENCE_SERVICE, protoRoot } from '../../src/server/grpc/proto-files.js';
import { ANSWER_TIMEOUT_MS } from './http-client.js';

export type InferenceClient = grpc.Client & Record<string, Function>;

export type GrpcResult =
  /** The server's status: OK, or an error with the `error-code` trailer the server always sets. */
  | { kind: 'answered'; code: grpc.status; errorCode: string | undefined; details: string; events: number; done: boolean }
  | { kind: 'aborted' }
  | { kind: 'timeout' }
  | { kind: 'transport'; error: string };

/** A streamed RPC's event (`oneofs: true` names the field set in `event`). */
export interface StreamEvent {
  event?: 'delta' | 'done';
  delta?: Record<string, unknown>;
  done?: Record<string, unknown>;
}

export function inferenceClient(port: number): InferenceClient {
  const definition = loadSync(INFERENCE_PROTO, { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true, includeDirs: [protoRoot()] });
  let node: unknown = grpc.loadPackageDefinition(definition);
  for (const part of INFERENCE_SERVICE.split('.')) node = (node as Record<string, unknown>)[part];
  const Client = node as new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => InferenceClient;
  // Messages carry whole photos: lift the client's 4 MiB receive default to the server's 32 MiB.
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), { 'grpc.max_receive_message_length': 32 << 20, 'grpc.max_send_message_length': 32 << 20 });
}

/** An error the server sent carries `error-code`; one without it came from the client's own channel. */
function resultOfError(error: grpc.ServiceError, events: number): GrpcResult {
  const errorCode = error.metadata?.get('error-code')[0]?.toString();
  if (errorCode === undefined && error.code !== grpc.status.OK) return { kind: 'transport', error: `${grpc.status[error.code]}: ${error.details}` };
  return { kind: 'answered', code: error.code, errorCode, details: error.details, events, done: false };
}

export function unaryCall(client: InferenceClient, method: string, message: object, timeoutMs = ANSWER_TIMEOUT_MS): Promise<GrpcResult> {
  return new Promise((resolve) => {
    let settled = false;
    const settle = (result: GrpcResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const call = client[method]!.call(client, message, new grpc.Metadata(), {}, (error: grpc.ServiceError | null) =>
      settle(error ? resultOfError(error, 0) : { kind: 'answered', code: grpc.status.OK, errorCode: undefined, details: '', events: 0, done: true }),
    ) as grpc.ClientUnaryCall;
    const timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      call.cancel();
    }, timeoutMs);
  });
}

/**
 * A server-streaming call read to its end: OK only counts as done when the last event was
 * `done` (the whole answer). `cancelAfterFirst`: the client goes away once an event arrived.
 */
export function streamCall(
  client: InferenceClient,
  method: string,
  message: object,
  options: { cancelAfterFirst?: boolean; timeoutMs?: number; onEvent?: (event: StreamEvent) => void } = {},
): Promise<GrpcResult> {
  return new Promise((resolve) => {
    let settled = false;
    let events = 0;
    let done = false;
    const settle = (result: GrpcResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(result);
    };
    const call = client[method]!.call(client, message, new grpc.Metadata(), {}) as grpc.ClientReadableStream<StreamEvent>;
    call.on('data', (event: StreamEvent) => {
      events++;
      options.onEvent?.(event);
      done = event.event === 'done';
      if (options.cancelAfterFirst) {
        settle({ kind: 'aborted' });
        call.cancel();
      }
    });
    call.on('error', (error: grpc.ServiceError) => settle(resultOfError(error, events)));
    call.on('status', (status: grpc.StatusObject) => {
      if (status.code === grpc.status.OK) settle({ kind: 'answered', code: grpc.status.OK, errorCode: undefined, details: '', events, done });
    });
    const timer = setTimeout(() => {
      settle({ kind: 'timeout' });
      call.cancel();
    }, options.timeoutMs ?? ANSWER_TIMEOUT_MS);
  });
}
