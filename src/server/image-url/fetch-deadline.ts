/**
 * One signal for a whole image fetch: aborted by the fetch's own time limit or by the caller.
 * Its reason is the ApiError the fetch ends with (docs/architecture.md, "Errors"):
 *
 * - the time limit: `deadline_exceeded` (504). The limit is on an upstream server we act as a
 *   gateway to, which is what 504 Gateway Timeout means; and it is worth retrying (a slow host may
 *   answer next time), which a 400 `invalid_image` would tell the client not to do. Not
 *   `request_timeout` (408): that one blames the client's own upload.
 * - the caller's signal: its reason when it is an ApiError (the server's own deadline says
 *   `deadline_exceeded` itself), else `cancelled`.
 *
 * A timer of our own, not `AbortSignal.timeout` (see src/pipelines/generation/sequence-deadline.ts).
 */
import { ApiError } from '../../errors.js';

export class FetchDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort: () => void;

  constructor(
    timeoutMs: number,
    private readonly callerSignal?: AbortSignal,
  ) {
    this.timer = setTimeout(
      () => this.controller.abort(new ApiError('deadline_exceeded', `fetching the image URL took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
    this.onCallerAbort = () => {
      const reason: unknown = callerSignal?.reason;
      this.controller.abort(reason instanceof ApiError ? reason : new ApiError('cancelled', 'the request was cancelled while fetching the image URL'));
    };
    if (callerSignal?.aborted) this.onCallerAbort();
    else callerSignal?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** The error the fetch ends with once the signal is aborted. */
  get reason(): ApiError {
    return this.controller.signal.reason as ApiError;
  }

  /** Stops the timer and forgets the caller's signal; call when the fetch is over, however it ended. */
  dispose(): void {
    clearTimeout(this.timer);
    this.callerSignal?.removeEventListener('abort', this.onCallerAbort);
  }
}

/**
 * `promise`, or the signal's reason as soon as it aborts: for steps that do not listen to a
 * signal themselves (a DNS lookup, an injected connect). A value that arrives after the abort is
 * handed to `discardLate` (to destroy a response nobody will read).
 */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal, discardLate?: (value: T) => void): Promise<T> {
  if (signal.aborted) {
    promise.then(discardLate, () => {});
    return Promise.reject(signal.reason);
  }
  return new Promise<T>((resolve, reject) => {
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      reject(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener('abort', onAbort);
        if (aborted) discardLate?.(value);
        else resolve(value);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error);
      },
    );
  });
}
