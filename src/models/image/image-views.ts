/**
 * Idefics3's image splitting (SmolVLM's processor with `do_image_splitting`): the image is resized
 * so its longest edge is `size.longest_edge` (even sides, enlarging too), then to multiples of the
 * view size, then cut into a grid of view-sized tiles, row by row, followed by the whole image
 * resized to one view (the global view). Each view is rescaled and normalised into float32 CHW.
 * An image that fits one view after the first resize is that one view (rows = cols = 0).
 *
 *   const { pixelValues, rows, cols, views } = await splitIntoViews(rgb, settings, { longestEdge: 2048, viewSize: 512 });
 */
import type { RgbImage } from './decode-image.js';
import type { CropSize, ImageProcessorSettings } from './image-processor-config.js';
import type { Cancellation } from './pil-resample.js';
import { resizeRgbImage, toPixelValues } from './preprocess-image.js';

export interface SplitSettings {
  /** preprocessor_config.json `size.longest_edge`: the first resize. */
  longestEdge: number;
  /** `max_image_size.longest_edge`: a view's side. */
  viewSize: number;
}

export interface ImageViews {
  /** views × 3 × viewSize × viewSize floats: the tiles row by row, then the global view. */
  pixelValues: Float32Array;
  views: number;
  /** The tile grid (0 × 0: the image is one view). */
  rows: number;
  cols: number;
}

/** The first resize (transformers' `_resize_output_size_rescale_to_max_len`): the longest edge to `longestEdge`, the other kept in proportion and made even. */
export function longestEdgeSize(height: number, width: number, longestEdge: number): CropSize {
  const aspect = width / height;
  let h: number;
  let w: number;
  if (width >= height) {
    w = longestEdge;
    h = Math.trunc(w / aspect);
    if (h % 2 !== 0) h++;
  } else {
    h = longestEdge;
    w = Math.trunc(h * aspect);
    if (w % 2 !== 0) w++;
  }
  return { height: Math.max(h, 1), width: Math.max(w, 1) };
}

/** The second resize (`resize_for_vision_encoder`): both sides up to multiples of the view size, the longer first. */
export function viewGridSize(height: number, width: number, viewSize: number): CropSize {
  const aspect = width / height;
  const up = (x: number) => Math.ceil(x / viewSize) * viewSize;
  if (width >= height) {
    const w = up(width);
    return { height: up(Math.trunc(w / aspect)), width: w };
  }
  const h = up(height);
  return { height: h, width: up(Math.trunc(h * aspect)) };
}

export async function splitIntoViews(image: RgbImage, settings: ImageProcessorSettings, split: SplitSettings, signal?: Cancellation): Promise<ImageViews> {
  const { viewSize } = split;
  const first = await resizeRgbImage(image, longestEdgeSize(image.height, image.width, split.longestEdge), settings.resample, signal);
  const grid = await resizeRgbImage(first, viewGridSize(first.height, first.width, viewSize), settings.resample, signal);
  const tiles: RgbImage[] = [];
  let rows = 0;
  let cols = 0;
  if (grid.height > viewSize || grid.width > viewSize) {
    rows = Math.ceil(grid.height / viewSize);
    cols = Math.ceil(grid.width / viewSize);
    for (let r = 0; r < rows; r++) {
      for (let c = 0; c < cols; c++) tiles.push(crop(grid, r === rows - 1 ? grid.height - viewSize : r * viewSize, c === cols - 1 ? grid.width - viewSize : c * viewSize, viewSize));
    }
  }
  signal?.throwIfAborted();
  const global = await resizeRgbImage(grid, { height: viewSize, width: viewSize }, settings.resample, signal);
  const views = [...tiles, global];
  const plane = 3 * viewSize * viewSize;
  const pixelValues = new Float32Array(views.length * plane);
  // The views are resized already: only rescale and normalise.
  const normalise = { ...settings, doResize: false, doCenterCrop: false };
  views.forEach((view, i) => pixelValues.set(toPixelValues(view, normalise).pixelValues, i * plane));
  return { pixelValues, views: views.length, rows, cols };
}

/** A `side` × `side` square of `image` at (top, left). */
function crop(image: RgbImage, top: number, left: number, side: number): RgbImage {
  const data = new Uint8Array(side * side * 3);
  for (let y = 0; y < side; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + side * 3), y * side * 3);
  }
  return { data, width: side, height: side };
}
