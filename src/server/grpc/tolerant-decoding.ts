/**
 * A message the server cannot decode is the client's error. grpc-js, when a method's decoder
 * throws, answers INTERNAL ("Error deserializing request") without calling the handler; here
 * each decoder returns a marker instead, and the handler answers it INVALID_ARGUMENT
 * (`invalid_request`) like any other refusal, counted in the metrics.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import { ApiError } from '../../errors.js';

const UNDECODABLE = Symbol('undecodable message');

interface Undecodable {
  [UNDECODABLE]: string;
}

/** The service with decoders that never throw. */
export function withTolerantDecoding(service: ServiceDefinition): ServiceDefinition {
  return Object.fromEntries(
    Object.entries(service).map(([name, method]) => {
      const requestType = method.path.split('/').pop();
      const requestDeserialize = (bytes: Buffer): unknown => {
        try {
          return method.requestDeserialize(bytes);
        } catch (error) {
          return { [UNDECODABLE]: `the ${requestType} request is not a valid protobuf message: ${(error as Error).message}` } satisfies Undecodable;
        }
      };
      return [name, { ...method, requestDeserialize }];
    }),
  ) as ServiceDefinition;
}

/** Throws `invalid_request` when the call's message could not be decoded. */
export function requireDecoded(request: unknown): void {
  if (typeof request === 'object' && request !== null && UNDECODABLE in request) {
    throw new ApiError('invalid_request', (request as Undecodable)[UNDECODABLE]);
  }
}
