/**
 * The one error type of the server and its code table (docs/architecture.md, "Errors").
 * Every layer throws `ApiError`; each transport maps `code` to its own status via this table.
 */

export const ERROR_CODES = {
  invalid_request: { http: 400, grpc: 'INVALID_ARGUMENT' },
  invalid_image: { http: 400, grpc: 'INVALID_ARGUMENT' },
  url_not_allowed: { http: 400, grpc: 'INVALID_ARGUMENT' },
  unauthorized: { http: 401, grpc: 'UNAUTHENTICATED' },
  forbidden: { http: 403, grpc: 'PERMISSION_DENIED' },
  unsupported_media_type: { http: 415, grpc: 'INVALID_ARGUMENT' },
  payload_too_large: { http: 413, grpc: 'RESOURCE_EXHAUSTED' },
  headers_too_large: { http: 431, grpc: 'RESOURCE_EXHAUSTED' },
  request_timeout: { http: 408, grpc: 'DEADLINE_EXCEEDED' },
  model_not_found: { http: 404, grpc: 'NOT_FOUND' },
  alignment_not_found: { http: 404, grpc: 'NOT_FOUND' },
  not_found: { http: 404, grpc: 'UNIMPLEMENTED' },
  overloaded: { http: 429, grpc: 'RESOURCE_EXHAUSTED' },
  rate_limited: { http: 429, grpc: 'RESOURCE_EXHAUSTED' },
  cancelled: { http: 499, grpc: 'CANCELLED' },
  deadline_exceeded: { http: 504, grpc: 'DEADLINE_EXCEEDED' },
  not_ready: { http: 503, grpc: 'UNAVAILABLE' },
  insufficient_storage: { http: 507, grpc: 'RESOURCE_EXHAUSTED' },
  internal: { http: 500, grpc: 'INTERNAL' },
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Longest error message: messages can quote client data, and must not echo a 30 MB body. */
export const MAX_ERROR_MESSAGE_CHARS = 500;

/** `text` cut to `max` characters, marked as cut. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

export class ApiError extends Error {
  readonly code: ErrorCode;
  /** Seconds a client should wait before retrying (429, 503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; retryAfterSeconds?: number }) {
    super(clip(message, MAX_ERROR_MESSAGE_CHARS), { cause: options?.cause });
    this.name = 'ApiError';
    this.code = code;
    this.retryAfterSeconds = options?.retryAfterSeconds;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }

  /** `code` and `message`, and OpenAI's `type` and `param` beside them, so OpenAI clients read our errors too. */
  toJSON(): { error: { code: ErrorCode; message: string; type: string; param: null } } {
    return { error: { code: this.code, message: this.message, type: openAiErrorType(this.httpStatus), param: null } };
  }
}

/** The OpenAI error `type` of an HTTP status. */
function openAiErrorType(status: number): string {
  if (status >= 500) return 'server_error';
  return ({ 401: 'authentication_error', 403: 'permission_error', 404: 'not_found_error', 429: 'rate_limit_error' } as Record<number, string>)[status] ?? 'invalid_request_error';
}

/** Wraps anything thrown into an ApiError; unknown failures become `internal`. */
export function toApiError(error: unknown): ApiError {
  if (error instanceof ApiError) return error;
  if (error instanceof Error && error.name === 'AbortError') return new ApiError('cancelled', 'the request was cancelled');
  const message = error instanceof Error ? error.message : String(error);
  return new ApiError('internal', message, { cause: error });
}
