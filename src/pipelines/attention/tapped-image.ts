/**
 * What attention maps and label localisation share: one image through preprocessing and the
 * tapped encoder (its bytes kept when a PNG will be drawn from them), then where the grid lies on
 * the photo and, when asked, the maps drawn over it.
 */
import type { HeatmapStyle, LabelledMap } from '../../models/image/heatmap-overlay.js';
import type { ImageProcessorSettings } from '../../models/image/index.js';
import type { PooledImage, PreprocessPool } from '../../models/image/preprocess-pool.js';
import type { Batcher } from '../batcher.js';
import type { CallOptions } from '../image-classification.js';
import type { TappedItem, TappedRow } from '../tapped-encoder.js';
import { inputRegion, type MapPlacement, type PatchGrid } from './patch-grid.js';

export interface TappedImageDeps {
  image: ImageProcessorSettings;
  grid: PatchGrid;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle' | 'renderHeatmap'>;
  batcher: Pick<Batcher<TappedItem, TappedRow>, 'submit'>;
}

/** Preprocesses `bytes` and runs them fetching `taps`; `keepBytes` when a PNG will be drawn from them. */
export async function runTappedImage(
  deps: TappedImageDeps,
  bytes: Uint8Array,
  taps: readonly string[],
  keepBytes: boolean,
  options: CallOptions,
): Promise<{ pre: PooledImage; row: TappedRow; preprocessMs: number }> {
  const started = performance.now();
  const pre = await deps.preprocessor.preprocess(bytes, deps.image, { ...options, transferImage: options.transferImage && !keepBytes });
  const preprocessMs = performance.now() - started;
  const row = await deps.batcher.submit({ pixels: pre.pixelValues, taps }, options);
  deps.preprocessor.recycle(pre.pixelValues); // the batch copied it and has run
  return { pre, row, preprocessMs };
}

/** The grid's place on the input and on the photo, and the PNG of `maps` over the photo when `render` asks. */
export async function placeMaps(
  deps: TappedImageDeps,
  bytes: Uint8Array,
  pre: PooledImage,
  maps: readonly LabelledMap[],
  render: HeatmapStyle | undefined,
  options: CallOptions,
): Promise<MapPlacement & { renderMs: number }> {
  const { grid, image, preprocessor } = deps;
  const region = inputRegion(pre.probe.width, pre.probe.height, image);
  const started = performance.now();
  const png = render ? await preprocessor.renderHeatmap(bytes, { maps: [...maps], grid, region, style: render }, { ...options, probe: pre.probe }) : undefined;
  return {
    grid,
    input: { width: pre.width, height: pre.height },
    photo: { width: pre.probe.width, height: pre.probe.height },
    region,
    png,
    renderMs: render ? performance.now() - started : 0,
  };
}
