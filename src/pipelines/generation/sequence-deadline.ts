/** A decoded sequence's cancellation: the caller's signal, its deadline, and what an early end means. */
import { ApiError } from '../../errors.js';
import type { CallOptions } from '../image-classification.js';
import type { SequenceResult } from './decode-scheduler.js';

/**
 * The call's signal, also aborted at its deadline (a decode stops at the next step then); call
 * `dispose` when the sequence is over. A timer of our own, not `AbortSignal.timeout`: combined
 * by `AbortSignal.any`, a timeout signal is held only weakly and may be garbage-collected before
 * it fires (the decode then ran past its deadline under load).
 */
export function withDeadline(options: CallOptions): { signal: AbortSignal | undefined; dispose(): void } {
  if (options.deadlineMs === undefined) return { signal: options.signal, dispose: () => {} };
  const controller = new AbortController();
  const abort = () => controller.abort();
  const timer = setTimeout(abort, Math.max(0, options.deadlineMs - Date.now()));
  if (options.signal?.aborted) abort();
  options.signal?.addEventListener('abort', abort, { once: true });
  return {
    signal: controller.signal,
    dispose() {
      clearTimeout(timer);
      options.signal?.removeEventListener('abort', abort);
    },
  };
}

/** Throws for a sequence that ended because its deadline passed or its caller went away. */
export function throwIfCancelled(result: SequenceResult, options: CallOptions, what: string): void {
  if (result.finishReason !== 'cancelled') return;
  if (options.deadlineMs !== undefined && Date.now() >= options.deadlineMs) throw new ApiError('deadline_exceeded', `the ${what} was not finished before the deadline`);
  throw new ApiError('cancelled', 'the caller went away');
}
