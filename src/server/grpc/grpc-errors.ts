/** Maps the one error table onto gRPC status codes. */
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';
import { ApiError, ERROR_CODES } from '../../errors.js';

export function toGrpcError(error: ApiError): Partial<ServiceError> {
  const metadata = new Metadata();
  metadata.set('error-code', error.code);
  if (error.retryAfterSeconds !== undefined) metadata.set('retry-after', String(Math.ceil(error.retryAfterSeconds)));
  return { code: status[ERROR_CODES[error.code].grpc], details: error.message, metadata };
}
