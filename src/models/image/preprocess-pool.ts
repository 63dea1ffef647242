/**
 * Image preprocessing off the event loop, within a memory budget. On the main thread only the
 * cheap steps run: the magic-number check and the header probe (libvips thread pool, no pixel
 * decoded). The decoded-pixel cost estimated from the header is taken from the server's budget,
 * then decoding, resizing and normalising run in a piscina pool of worker threads. A cancelled or
 * late request stops its worker task through a shared flag that the JS loops check.
 *
 * @example
 *   const pool = new PreprocessPool({ threads: 2, limits: { maxPixels: 5e7 } });
 *   const { pixelValues } = await pool.preprocess(bytes, settings, { signal, deadlineMs });
 *   await pool.close();
 */
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { ApiError } from '../../errors.js';
import { probeImage, type DecodeLimits, type ImageProbe } from './decode-image.js';
import type { ImageProcessorSettings } from './image-processor-config.js';
import { longestEdgeSize, viewGridSize, type ImageViews, type SplitSettings } from './image-views.js';
import { preprocessCost } from './preprocess-cost.js';
import { BufferRecycler, spansWholeBuffer } from '../buffer-recycler.js';
import { pixelValuesSize, preprocessRoute, type PreprocessedImage } from './preprocess-image.js';
import type { HeatmapReply, HeatmapRequest, PreprocessReply, PreprocessTask, SplitViewsReply, SplitViewsTask, WorkerFailure } from './preprocess-worker.js';

/** Preprocessed pixels, and the header of the photo they came from (its size after EXIF orientation). */
export interface PooledImage extends PreprocessedImage {
  probe: ImageProbe;
}

/** A server-wide budget of bytes; `acquire` waits (FIFO) and resolves with the release function. */
export interface MemoryBudget {
  acquire(bytes: number, options: { signal?: AbortSignal; deadlineMs?: number }): Promise<() => void>;
}

export interface PreprocessPoolOptions {
  /** Worker threads; default {@link defaultPreprocessThreads}. */
  threads?: number;
  limits: DecodeLimits;
  /** Bounds the decoded pixels in flight; without it, only the per-image limits apply. */
  budget?: MemoryBudget;
}

export interface PreprocessCallOptions {
  signal?: AbortSignal;
  /** Absolute deadline in Date.now() milliseconds. */
  deadlineMs?: number;
  /**
   * Move `bytes` to the worker instead of copying them, when they own their whole buffer (a
   * request body's do): the caller must not read them afterwards (they are detached).
   */
  transferImage?: boolean;
}

/** Pixel buffers kept for reuse: about the images in flight under load (~600 KB each at 224²). */
const SPARE_PIXEL_BUFFERS = 16;

/** Two threads (a slow image does not hold up the next), up to a quarter of the cores. */
export function defaultPreprocessThreads(cores = os.availableParallelism()): number {
  return Math.max(2, Math.min(8, Math.floor(cores / 4)));
}

// In the compiled build the worker is the .js file next to this one; from TypeScript sources a
// bootstrap registers tsx in the worker first.
const fromSources = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const workerFile = fileURLToPath(new URL(fromSources ? './preprocess-worker-bootstrap.mjs' : './preprocess-worker.js', import.meta.url));

export class PreprocessPool {
  readonly threads: number;
  private readonly piscina: Piscina;
  private readonly limits: DecodeLimits;
  private readonly budget: MemoryBudget | undefined;
  /** Pixel buffers given back by `recycle`, sent to the workers to write the next images into. */
  private readonly spare = new BufferRecycler(SPARE_PIXEL_BUFFERS);

  constructor(options: PreprocessPoolOptions) {
    this.threads = options.threads ?? defaultPreprocessThreads();
    this.limits = options.limits;
    this.budget = options.budget;
    this.piscina = new Piscina({ filename: workerFile, minThreads: this.threads, maxThreads: this.threads, idleTimeout: Infinity });
  }

  /**
   * Image bytes → model input, with the Python processors' semantics (preprocess-image.ts).
   * Errors: `invalid_image`, `payload_too_large` (pixels, resize work, or more than the whole
   * budget), `overloaded` (the budget stayed full), `cancelled`, `deadline_exceeded`.
   */
  async preprocess(bytes: Uint8Array, settings: ImageProcessorSettings, options: PreprocessCallOptions = {}): Promise<PooledImage> {
    options.signal?.throwIfAborted();
    const probe = await probeImage(bytes, this.limits);
    const route = preprocessRoute(probe, settings, this.limits);
    const cost = preprocessCost(probe, route, settings);
    const size = pixelValuesSize(route.resizeTo ?? probe, settings);
    const output = this.spare.take(3 * size.height * size.width * Float32Array.BYTES_PER_ELEMENT);
    const transferList = output ? [output] : [];
    if (options.transferImage && spansWholeBuffer(bytes)) transferList.push(bytes.buffer);
    const reply = await this.runTask<PreprocessReply>(
      'default',
      (cancel) => ({ bytes, settings, limits: this.limits, probe, cancel, output }) satisfies PreprocessTask,
      transferList,
      cost.bytes,
      options,
    );
    return { pixelValues: reply.pixelValues, height: reply.height, width: reply.width, probe };
  }

  /**
   * Draws maps over the photo in `bytes` as a PNG (heatmap-overlay.ts), off the event loop and
   * within the memory budget; `probe` is its header when `preprocess` read it already. Errors as
   * for `preprocess`.
   */
  async renderHeatmap(
    bytes: Uint8Array,
    heatmap: HeatmapRequest,
    options: Omit<PreprocessCallOptions, 'transferImage'> & { probe?: ImageProbe } = {},
  ): Promise<Uint8Array> {
    options.signal?.throwIfAborted();
    const probe = options.probe ?? (await probeImage(bytes, this.limits));
    // The decoded photo, the blended copy, sharp's copy of it and the PNG: 4 RGB images.
    const cost = 4 * 3 * probe.width * probe.height;
    const reply = await this.runTask<HeatmapReply>('renderHeatmap', (cancel) => ({ bytes, probe, limits: this.limits, cancel, ...heatmap }), [], cost, options);
    return reply.png;
  }

  /**
   * Image bytes → the views of Idefics3's image splitting (image-views.ts), off the event loop and
   * within the memory budget. Errors as for `preprocess`.
   */
  async splitViews(bytes: Uint8Array, settings: ImageProcessorSettings, split: SplitSettings, options: PreprocessCallOptions = {}): Promise<ImageViews> {
    options.signal?.throwIfAborted();
    const probe = await probeImage(bytes, this.limits);
    const first = longestEdgeSize(probe.height, probe.width, split.longestEdge);
    const grid = viewGridSize(first.height, first.width, split.viewSize);
    if (grid.width * grid.height > this.limits.maxPixels) {
      throw new ApiError('payload_too_large', `image would be split at ${grid.width}×${grid.height}, over the limit of ${this.limits.maxPixels} pixels`);
    }
    const views = (grid.width / split.viewSize) * (grid.height / split.viewSize) + 1;
    // The decoded image, its two resizes, and the views as floats.
    const cost = 3 * (probe.width * probe.height + first.width * first.height + grid.width * grid.height) + 12 * views * split.viewSize ** 2;
    const transferList = options.transferImage && spansWholeBuffer(bytes) ? [bytes.buffer as ArrayBuffer] : [];
    const reply = await this.runTask<SplitViewsReply>('splitViews', (cancel) => ({ bytes, settings, split, limits: this.limits, probe, cancel }) satisfies SplitViewsTask, transferList, cost, options);
    return { pixelValues: reply.pixelValues, views: reply.views, rows: reply.rows, cols: reply.cols };
  }

  /** Runs a worker task within the budget, cancelled when the call's signal fires or its deadline passes. */
  private async runTask<R extends { ok: true }>(
    name: string,
    task: (cancel: Int32Array) => object,
    transferList: ArrayBuffer[],
    costBytes: number,
    options: Omit<PreprocessCallOptions, 'transferImage'>,
  ): Promise<R> {
    const { signal, deadlineMs } = options;
    const release = this.budget ? await this.budget.acquire(costBytes, { signal, deadlineMs }) : () => {};
    const cancel = new Int32Array(new SharedArrayBuffer(4));
    let gone: ApiError | undefined;
    const stop = (error: ApiError) => {
      gone ??= error;
      Atomics.store(cancel, 0, 1);
    };
    const onAbort = () => stop(new ApiError('cancelled', 'the request was cancelled'));
    signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      deadlineMs === undefined
        ? undefined
        : setTimeout(() => stop(new ApiError('deadline_exceeded', 'deadline passed while the image was processed')), Math.max(0, deadlineMs - Date.now()));
    try {
      if (signal?.aborted) onAbort();
      const reply = (await this.piscina.run(task(cancel), { name, transferList })) as R | WorkerFailure;
      if (gone) throw gone;
      if (!reply.ok) throw new ApiError(reply.code, reply.message);
      return reply;
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      release();
    }
  }

  /**
   * Gives the pixels of a finished request back for reuse, saving an allocation per image. Only
   * for arrays nothing will read again (the batch they ran in copied them and has answered).
   */
  recycle(pixelValues: Float32Array): void {
    this.spare.give(pixelValues);
  }

  /** Pixel buffers kept for reuse now. */
  get spareBuffers(): number {
    return this.spare.size;
  }

  async close(): Promise<void> {
    await this.piscina.destroy();
  }
}
