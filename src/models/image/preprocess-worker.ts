/**
 * Piscina worker entry: preprocesses one image off the event loop. Errors come back as values
 * (structured cloning drops an ApiError's code), and the pixels are transferred, not copied.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { ApiError, toApiError, type ErrorCode } from '../../errors.js';
import { nameThread, THREAD_NAMES } from '../../thread-name.js';
import type { DecodeLimits, ImageProbe } from './decode-image.js';
import type { ImageProcessorSettings } from './image-processor-config.js';
import { preprocessImage } from './preprocess-image.js';

nameThread(THREAD_NAMES.preprocessing);

export interface PreprocessTask {
  bytes: Uint8Array;
  settings: ImageProcessorSettings;
  limits: DecodeLimits;
  probe: ImageProbe;
  /** One Int32 on a SharedArrayBuffer: the main thread sets it to 1 to cancel. */
  cancel: Int32Array;
  /** A recycled buffer (transferred) for the pixels, used when it is the right size. */
  output?: ArrayBuffer;
}

export type PreprocessReply =
  | { ok: true; pixelValues: Float32Array; height: number; width: number }
  | { ok: false; code: ErrorCode; message: string };

function cancellation(flag: Int32Array) {
  return {
    throwIfAborted() {
      if (Atomics.load(flag, 0) !== 0) throw new ApiError('cancelled', 'preprocessing cancelled');
    },
  };
}

export default async function preprocessTask(task: PreprocessTask): Promise<unknown> {
  try {
    const signal = cancellation(task.cancel);
    const { pixelValues, height, width } = await preprocessImage(task.bytes, task.settings, task.limits, {
      probe: task.probe,
      signal,
      output: task.output,
    });
    const reply: PreprocessReply = { ok: true, pixelValues, height, width };
    // A custom movable: the reply is the value, the pixels' buffer its transfer list.
    return move({ [transferableSymbol]: [pixelValues.buffer], [valueSymbol]: reply } as Parameters<typeof move>[0]);
  } catch (error) {
    // A RangeError (an allocation too large for a typed array) is the image's size, not a bug.
    const apiError = error instanceof RangeError ? new ApiError('payload_too_large', 'the image is too large to preprocess') : toApiError(error);
    const reply: PreprocessReply = { ok: false, code: apiError.code, message: apiError.message };
    return reply;
  }
}
