/**
 * Every error, ours or express's, body-parser's, multer's, answers
 * `{ "error": { "code", "message" } }` with the status from the one error table.
 */
import type { ErrorRequestHandler, RequestHandler } from 'express';
import multer from 'multer';
import { ApiError, toApiError } from '../../errors.js';
import type { EventStream } from './sse.js';

/** body-parser errors carry a `type`; map the ones a client can cause. */
function fromBodyParser(error: { type?: unknown; message?: unknown; limit?: unknown }): ApiError | undefined {
  switch (error.type) {
    case 'entity.parse.failed':
      return new ApiError('invalid_request', `malformed JSON body: ${String(error.message)}`);
    case 'entity.too.large':
      return new ApiError('payload_too_large', `request body is larger than the ${String(error.limit)}-byte limit`);
    case 'encoding.unsupported':
    case 'charset.unsupported':
      return new ApiError('unsupported_media_type', String(error.message));
    case 'request.aborted':
      return new ApiError('cancelled', 'the client closed the connection');
    case 'request.size.invalid':
    case 'stream.encoding.set':
      return new ApiError('invalid_request', String(error.message));
    default:
      return undefined;
  }
}

function fromMulter(error: multer.MulterError): ApiError {
  switch (error.code) {
    case 'LIMIT_FILE_SIZE':
      return new ApiError('payload_too_large', 'the image file is larger than the configured limit');
    case 'LIMIT_FIELD_VALUE':
    case 'LIMIT_PART_COUNT':
    case 'LIMIT_FIELD_COUNT':
    case 'LIMIT_FILE_COUNT':
    case 'LIMIT_FIELD_KEY':
      return new ApiError('payload_too_large', `multipart form over its limits: ${error.message}`);
    case 'LIMIT_UNEXPECTED_FILE':
      return new ApiError('invalid_request', `unexpected file field '${error.field ?? ''}': send one image as the field 'image'`);
    default:
      return new ApiError('invalid_request', `malformed multipart form: ${error.message}`);
  }
}

export function toHttpError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof multer.MulterError) return fromMulter(error);
  if (error && typeof error === 'object') {
    const mapped = fromBodyParser(error as Record<string, unknown>);
    if (mapped) return mapped;
    // busboy (under multer) reports a broken form, and a client gone mid-upload, as plain Errors.
    const message = (error as Error).message ?? '';
    if (/^Request (aborted|closed)$/i.test(message)) return new ApiError('cancelled', 'the client closed the connection during the upload');
    if (/Unexpected end of form|Malformed part header|Multipart: Boundary not found/i.test(message)) {
      return new ApiError('invalid_request', `malformed multipart form: ${message}`);
    }
  }
  return toApiError(error);
}

export function sendError(res: Parameters<RequestHandler>[1], error: ApiError): void {
  if (res.headersSent) {
    // A stream under way ends with an error event a client can read; anything else just ends.
    const stream = res.locals.eventStream as EventStream | undefined;
    if (stream?.started) stream.fail(error);
    else res.end();
    return;
  }
  if (error.retryAfterSeconds !== undefined) res.setHeader('Retry-After', String(Math.ceil(error.retryAfterSeconds)));
  res.status(error.httpStatus).json(error.toJSON());
}

export const errorHandler: ErrorRequestHandler = (error, _req, res, _next) => {
  if (res.headersSent) return void res.end(); // already answered (a shutdown's 503): nothing to add
  const apiError = toHttpError(error);
  const log = res.locals.log;
  if (apiError.code === 'internal') log?.error({ err: error }, 'internal error');
  else log?.info({ code: apiError.code, message: apiError.message }, 'request failed');
  res.locals.errorCode = apiError.code;
  sendError(res, apiError);
};

export const notFoundHandler: RequestHandler = (req, res) => {
  sendError(res, new ApiError('not_found', `no route ${req.method} ${req.path}`));
};
