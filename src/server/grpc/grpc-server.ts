/**
 * The gRPC transport: InferenceService, the standard health service (grpc.health.v1, following
 * readiness) and server reflection (so grpcurl works without the .proto file).
 */
import { Server, ServerCredentials, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation, protoPath as healthProtoPath, type ServingStatus } from 'grpc-health-check';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { INFERENCE_PROTO, INFERENCE_SERVICE, protoRoot } from './proto-files.js';
import { inferenceService, type InferenceServiceDeps } from './inference-service.js';
import { withTolerantDecoding } from './tolerant-decoding.js';
import { framingRefusals } from './framing-refusals.js';

export interface GrpcServerDeps extends InferenceServiceDeps {
  maxMessageBytes: number;
}

export interface GrpcTransport {
  server: Server;
  port: number;
  /** Sets the health status of the whole server ("") and of the inference service. */
  setServing(serving: boolean): void;
  /** Stops accepting calls; resolves once the calls in flight have finished. */
  stopAccepting(): Promise<void>;
  /** Cancels whatever is still running. */
  forceClose(): void;
}

function loadInferenceDefinition() {
  // keepCase: messages keep the proto's snake_case field names, as on the HTTP wire.
  const packageDefinition = loadSync(INFERENCE_PROTO, {
    includeDirs: [protoRoot()],
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: false,
    oneofs: true,
  });
  const loaded = loadPackageDefinition(packageDefinition) as unknown as {
    multimodal: { v1: { InferenceService: { service: ServiceDefinition } } };
  };
  return { service: withTolerantDecoding(loaded.multimodal.v1.InferenceService.service) };
}

export async function startGrpcServer(deps: GrpcServerDeps, host: string, port: number): Promise<GrpcTransport> {
  const server = new Server({
    'grpc.max_receive_message_length': deps.maxMessageBytes,
    'grpc.max_send_message_length': deps.maxMessageBytes,
    interceptors: [framingRefusals],
  });
  const { service } = loadInferenceDefinition();
  server.addService(service, inferenceService(deps));

  const health = new HealthImplementation({ '': 'NOT_SERVING', [INFERENCE_SERVICE]: 'NOT_SERVING' });
  health.addToServer(server);
  // Reflection describes every service served here, health included.
  new ReflectionService(loadSync([INFERENCE_PROTO, healthProtoPath], { includeDirs: [protoRoot()] })).addToServer(server);

  const boundPort = await new Promise<number>((resolve, reject) => {
    const address = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    server.bindAsync(address, ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound)));
  });
  return {
    server,
    port: boundPort,
    setServing(serving) {
      const status: ServingStatus = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(INFERENCE_SERVICE, status);
    },
    stopAccepting: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
    forceClose: () => server.forceShutdown(),
  };
}
