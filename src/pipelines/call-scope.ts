/**
 * A request's own cancellation scope: work started for one request (images in the preprocessing
 * pool, items in the batchers) is abandoned as soon as the request has its answer — in particular
 * when one part failed and the error is already on its way, so the siblings stop instead of
 * running on after the request's admission slot was freed.
 */
import { setMaxListeners } from 'node:events';
import { ApiError } from '../errors.js';
import type { CallOptions } from './image-classification.js';

/** Every item of a request (up to thousands of prompts) listens on its signal: that is expected. */
const LISTENERS_PER_REQUEST = 10_000;

export async function inCallScope<T>(options: CallOptions, work: (scoped: CallOptions) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  setMaxListeners(LISTENERS_PER_REQUEST, controller.signal);
  const forward = () => controller.abort();
  if (options.signal?.aborted) controller.abort();
  options.signal?.addEventListener('abort', forward, { once: true });
  try {
    return await work({ ...options, signal: controller.signal });
  } finally {
    options.signal?.removeEventListener('abort', forward);
    controller.abort();
  }
}

/**
 * `work`, or `cancelled` / `deadline_exceeded` as soon as the caller's signal or deadline says
 * so: how a caller waits for a computation it shares with others (a cache miss several requests
 * wait for), which must not be tied to the caller who started it.
 */
export function whileWanted<T>(work: Promise<T>, { signal, deadlineMs }: CallOptions, what: string): Promise<T> {
  if (!signal && deadlineMs === undefined) return work;
  return new Promise<T>((resolve, reject) => {
    const gone = (error: ApiError) => {
      cleanup();
      reject(error);
    };
    const onAbort = () => gone(new ApiError('cancelled', 'the request was cancelled'));
    const timer = deadlineMs === undefined ? undefined : setTimeout(() => gone(new ApiError('deadline_exceeded', `deadline passed before ${what}`)), Math.max(0, deadlineMs - Date.now()));
    const cleanup = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    work.then(
      (value) => {
        cleanup();
        resolve(value);
      },
      (error: unknown) => {
        cleanup();
        reject(error);
      },
    );
  });
}
