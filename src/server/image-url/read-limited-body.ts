/**
 * Reads a response body with a running byte count: past `maxBytes` the body is destroyed and the
 * fetch ends with `payload_too_large` (docs/architecture.md, "Errors") without buffering more.
 */
import { ApiError } from '../../errors.js';
import { raceAbort } from './fetch-deadline.js';
import type { ConnectedResponse } from './options.js';

export async function readLimitedBody(
  response: ConnectedResponse,
  limits: { host: string; maxBytes: number; declaredBytes: number | undefined; signal: AbortSignal },
): Promise<Uint8Array> {
  const { body } = response;
  const chunks: Uint8Array[] = [];
  let total = 0;
  const iterator = body[Symbol.asyncIterator]();
  try {
    for (;;) {
      // Raced so a body that ignores destroy() still cannot outlive the deadline.
      const next = await raceAbort(iterator.next(), limits.signal);
      if (next.done) break;
      total += next.value.byteLength;
      if (total > limits.maxBytes) {
        throw new ApiError('payload_too_large', `image URL on ${limits.host} sent more than the limit of ${limits.maxBytes} bytes`);
      }
      chunks.push(next.value);
    }
  } catch (error) {
    body.destroy?.();
    throw error;
  }
  if (limits.declaredBytes !== undefined && total !== limits.declaredBytes) {
    throw new ApiError('invalid_image', `image URL on ${limits.host} ended after ${total} of its ${limits.declaredBytes} bytes`);
  }
  return Buffer.concat(chunks, total);
}
