/**
 * A request's own cancellation scope: work started for one request (images in the preprocessing
 * pool, items in the batchers) is abandoned as soon as the request has its answer — in particular
 * when one part failed and the error is already on its way, so the siblings stop instead of
 * running on after the request's admission slot was freed.
 */
import type { CallOptions } from './image-classification.js';

export async function inCallScope<T>(options: CallOptions, work: (scoped: CallOptions) => Promise<T>): Promise<T> {
  const controller = new AbortController();
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
