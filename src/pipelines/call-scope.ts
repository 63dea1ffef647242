/**
 * A request's own cancellation scope: work started for one request (images in the preprocessing
 * pool, items in the batchers) is abandoned as soon as the request has its answer — in particular
 * when one part failed and the error is already on its way, so the siblings stop instead of
 * running on after the request's admission slot was freed.
 */
import { setMaxListeners } from 'node:events';
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
