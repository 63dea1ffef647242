/**
 * Turns one call's result into its outcome and records it: the status against what the request
 * expected, and for a stream that answered 200, whether it really ended with its whole answer
 * (a late error arrives as an event inside the 200, and counts by its own code).
 */
import * as grpc from '@grpc/grpc-js';
import type { GrpcResult } from './grpc-client.js';
import { ANSWER_TIMEOUT_MS, type HttpResult } from './http-client.js';
import { outcomeOfStatus, statusOfErrorCode, type Expectation } from './outcomes.js';
import type { Tally } from './tally.js';

/** How a 200 stream ended: `status` from a late error event, or a `problem` when it did not end properly. */
interface StreamEnd {
  status?: number;
  problem?: string;
}

/** The data lines of a server-sent event body. */
export function sseData(body: string): string[] {
  return body.split('\n').flatMap((line) => (line.startsWith('data: ') ? [line.slice(6)] : []));
}

/** The code of an `{"error": {...}}` event, if `data` is one. */
function errorCodeOf(data: string): string | undefined {
  if (!data.startsWith('{"error"')) return undefined;
  return (JSON.parse(data) as { error: { code: string } }).error.code;
}

/** A caption stream (`event: done` with the answer, or `event: error`). */
export function captionStreamEnd(body: string): StreamEnd {
  const late = sseData(body).map(errorCodeOf).find((code) => code !== undefined);
  if (late) return { status: statusOfErrorCode(late) ?? 500 };
  return body.includes('event: done\n') ? {} : { problem: 'caption stream ended without event: done' };
}

/** An OpenAI chat stream (chunks, then `data: [DONE]`; a late error as a `data:` event). */
export function chatStreamEnd(body: string): StreamEnd {
  const late = sseData(body).map(errorCodeOf).find((code) => code !== undefined);
  if (late) return { status: statusOfErrorCode(late) ?? 500 };
  return body.endsWith('data: [DONE]\n\n') ? {} : { problem: 'chat stream ended without data: [DONE]' };
}

const snippet = (body: Buffer) => body.subarray(0, 200).toString('utf8').replace(/\s+/g, ' ');

/** Records an HTTP call; returns true when it was a success (the caller may go on, e.g. to a second turn). */
export function recordHttp(tally: Tally, endpoint: string, result: HttpResult, expected: Expectation = 'ok', streamEnd?: (body: string) => StreamEnd): boolean {
  if (result.kind === 'aborted') tally.record(endpoint, 'aborted');
  else if (result.kind === 'timeout') tally.record(endpoint, 'timeout', `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
  else if (result.kind === 'transport') tally.record(endpoint, 'transport_error', result.error);
  else {
    const end = result.status === 200 && streamEnd ? streamEnd(result.body.toString('utf8')) : {};
    const status = end.status ?? result.status;
    const outcome = end.problem ? 'unexpected' : outcomeOfStatus(status, expected);
    tally.record(endpoint, outcome, end.problem ?? `HTTP ${status}: ${snippet(result.body)}`);
    return outcome === 'ok';
  }
  return false;
}

/** Records a gRPC call; a streaming call that ended OK must have sent its `done` event. */
export function recordGrpc(tally: Tally, endpoint: string, result: GrpcResult, expected: Expectation = 'ok', streaming = false): boolean {
  if (result.kind === 'aborted') tally.record(endpoint, 'aborted');
  else if (result.kind === 'timeout') tally.record(endpoint, 'timeout', `no answer within ${ANSWER_TIMEOUT_MS / 1000} s`);
  else if (result.kind === 'transport') tally.record(endpoint, 'transport_error', result.error);
  else {
    const status = result.code === grpc.status.OK ? 200 : (statusOfErrorCode(result.errorCode ?? '') ?? 500);
    const problem = status === 200 && streaming && !result.done ? 'stream ended OK without its done event' : undefined;
    const outcome = problem ? 'unexpected' : outcomeOfStatus(status, expected);
    tally.record(endpoint, outcome, problem ?? `${grpc.status[result.code]} (${result.errorCode ?? 'no error-code'}): ${result.details.slice(0, 200)}`);
    return outcome === 'ok';
  }
  return false;
}
