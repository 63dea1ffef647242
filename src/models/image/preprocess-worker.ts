/**
 * Piscina worker entry: preprocesses one image off the event loop (the default task), splits one
 * into views (`splitViews`, visual chat's image splitting), or draws maps over a photo as a PNG
 * (`renderHeatmap`). Errors come back as values (structured cloning
 * drops an ApiError's code), and pixels and PNGs are transferred, not copied.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { ApiError, toApiError, type ErrorCode } from '../../errors.js';
import { nameThread, THREAD_NAMES } from '../../thread-name.js';
import { decodeProbed, type DecodeLimits, type ImageProbe } from './decode-image.js';
import { renderHeatmapPng, type HeatmapGridShape, type HeatmapRegion, type HeatmapStyle, type LabelledMap } from './heatmap-overlay.js';
import type { ImageProcessorSettings } from './image-processor-config.js';
import { splitIntoViews, type ImageViews, type SplitSettings } from './image-views.js';
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

export interface WorkerFailure {
  ok: false;
  code: ErrorCode;
  message: string;
}

export type PreprocessReply = { ok: true; pixelValues: Float32Array; height: number; width: number };

export interface SplitViewsTask {
  bytes: Uint8Array;
  settings: ImageProcessorSettings;
  split: SplitSettings;
  limits: DecodeLimits;
  probe: ImageProbe;
  cancel: Int32Array;
}

export type SplitViewsReply = { ok: true } & ImageViews;

/** What to draw over the photo (see heatmap-overlay.ts). */
export interface HeatmapRequest {
  maps: LabelledMap[];
  grid: HeatmapGridShape;
  region: HeatmapRegion;
  style: HeatmapStyle;
}

export interface HeatmapTask extends HeatmapRequest {
  bytes: Uint8Array;
  probe: ImageProbe;
  limits: DecodeLimits;
  cancel: Int32Array;
}

export type HeatmapReply = { ok: true; png: Uint8Array };

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
    return movable({ ok: true, pixelValues, height, width } satisfies PreprocessReply, pixelValues.buffer);
  } catch (error) {
    return failure(error);
  }
}

export async function splitViews(task: SplitViewsTask): Promise<unknown> {
  try {
    const signal = cancellation(task.cancel);
    const image = await decodeProbed(task.bytes, task.probe, task.limits);
    signal.throwIfAborted();
    const views = await splitIntoViews(image, task.settings, task.split, signal);
    return movable({ ok: true, ...views } satisfies SplitViewsReply, views.pixelValues.buffer);
  } catch (error) {
    return failure(error);
  }
}

export async function renderHeatmap(task: HeatmapTask): Promise<unknown> {
  try {
    const signal = cancellation(task.cancel);
    const photo = await decodeProbed(task.bytes, task.probe, task.limits);
    signal.throwIfAborted();
    const png = new Uint8Array(await renderHeatmapPng(photo, task.maps, task.grid, task.region, task.style));
    return movable({ ok: true, png } satisfies HeatmapReply, png.buffer);
  } catch (error) {
    return failure(error);
  }
}

/** A custom movable: the reply is the value, `buffer` its transfer list. */
function movable(reply: object, buffer: ArrayBufferLike): unknown {
  return move({ [transferableSymbol]: [buffer], [valueSymbol]: reply } as Parameters<typeof move>[0]);
}

function failure(error: unknown): WorkerFailure {
  // A RangeError (an allocation too large for a typed array) is the image's size, not a bug.
  const apiError = error instanceof RangeError ? new ApiError('payload_too_large', 'the image is too large to process') : toApiError(error);
  return { ok: false, code: apiError.code, message: apiError.message };
}
