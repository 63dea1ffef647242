/** Real grpc-js clients for the server's services, loaded from the same .proto files. */
import path from 'node:path';
import { createRequire } from 'node:module';
import * as grpc from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { INFERENCE_PROTO, protoRoot } from '../../src/server/grpc/proto-files.js';

const require = createRequire(import.meta.url);
const loaderOptions = { keepCase: true, longs: Number, enums: String, defaults: false, oneofs: true };

type Ctor = new (address: string, credentials: grpc.ChannelCredentials, options?: grpc.ChannelOptions) => grpc.Client;

function clientConstructor(file: string, includeDirs: string[], dotted: string): Ctor {
  let node: unknown = grpc.loadPackageDefinition(loadSync(file, { ...loaderOptions, includeDirs }));
  for (const part of dotted.split('.')) node = (node as Record<string, unknown>)[part];
  return node as Ctor;
}

export function inferenceClient(port: number, options: grpc.ChannelOptions = {}) {
  const Client = clientConstructor(INFERENCE_PROTO, [protoRoot()], 'multimodal.v1.InferenceService');
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options) as grpc.Client & Record<string, Function>;
}

export function healthClient(port: number) {
  const proto = path.join(path.dirname(require.resolve('grpc-health-check/package.json')), 'proto');
  const Client = clientConstructor('health/v1/health.proto', [proto], 'grpc.health.v1.Health');
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
}

export function reflectionClient(port: number) {
  const proto = path.join(path.dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto');
  const Client = clientConstructor('grpc/reflection/v1/reflection.proto', [proto], 'grpc.reflection.v1.ServerReflection');
  return new Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure()) as grpc.Client & Record<string, Function>;
}

/** Promisified unary call that resolves to the response or rejects with the ServiceError. */
export function unary<T = any>(client: grpc.Client & Record<string, Function>, method: string, message: unknown, deadlineMs?: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const options = deadlineMs === undefined ? {} : { deadline: Date.now() + deadlineMs };
    client[method]!.call(client, message, new grpc.Metadata(), options, (error: grpc.ServiceError | null, response: T) =>
      error ? reject(error) : resolve(response),
    );
  });
}
