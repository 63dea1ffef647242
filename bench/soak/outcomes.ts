/**
 * What became of one request, in the soak's categories, from an HTTP status or a gRPC status
 * (through the server's one error table, so both transports land in the same buckets).
 */
import { ERROR_CODES, type ErrorCode } from '../../src/errors.js';

export const OUTCOMES = ['ok', 'expected_4xx', 'overloaded_429', 'server_5xx', 'unexpected', 'aborted', 'transport_error', 'timeout'] as const;
export type Outcome = (typeof OUTCOMES)[number];

/** What the request should get: a success, or (a deliberately bad request) this 4xx. */
export type Expectation = 'ok' | { status: number };

/** Outcomes that are an answer from the server (for answered requests per second). */
export const ANSWERED: ReadonlySet<Outcome> = new Set(['ok', 'expected_4xx', 'overloaded_429', 'server_5xx', 'unexpected']);

/** Outcomes that fail the soak: a 5xx, a wrong answer, or no answer at all. */
export const FAILING: ReadonlySet<Outcome> = new Set(['server_5xx', 'unexpected', 'transport_error', 'timeout']);

/** An HTTP status against what the request expected. 429 is load shedding: counted, never a failure. */
export function outcomeOfStatus(status: number, expected: Expectation): Outcome {
  if (status === 429) return 'overloaded_429';
  if (status >= 500) return 'server_5xx';
  if (status >= 200 && status < 300) return expected === 'ok' ? 'ok' : 'unexpected';
  return expected !== 'ok' && expected.status === status ? 'expected_4xx' : 'unexpected';
}

/** The HTTP status the server's error table gives `code` (e.g. from a stream's error event or a gRPC trailer). */
export function statusOfErrorCode(code: string): number | undefined {
  return (ERROR_CODES as Record<string, { http: number }>)[code]?.http;
}

export type { ErrorCode };
