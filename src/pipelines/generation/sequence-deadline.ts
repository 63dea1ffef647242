/** A decoded sequence's cancellation: the caller's signal, its deadline, and what an early end means. */
import { ApiError } from '../../errors.js';
import type { CallOptions } from '../image-classification.js';
import type { SequenceResult } from './decode-scheduler.js';

/** The call's signal, also aborted at its deadline (a decode stops at the next step then). */
export function withDeadline(options: CallOptions): AbortSignal | undefined {
  if (options.deadlineMs === undefined) return options.signal;
  const timeout = AbortSignal.timeout(Math.max(0, options.deadlineMs - Date.now()));
  return options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
}

/** Throws for a sequence that ended because its deadline passed or its caller went away. */
export function throwIfCancelled(result: SequenceResult, options: CallOptions, what: string): void {
  if (result.finishReason !== 'cancelled') return;
  if (options.deadlineMs !== undefined && Date.now() >= options.deadlineMs) throw new ApiError('deadline_exceeded', `the ${what} was not finished before the deadline`);
  throw new ApiError('cancelled', 'the caller went away');
}
