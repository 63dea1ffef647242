/**
 * The geometry of an attention map: how the tokens form the patch grid of the model input, and
 * which region of the original photo that input covers once the processor's resize and center
 * crop are undone (a CLIP map covers only the crop window).
 */
import { centerCropOffsets, resizeOutputSize } from '../../models/image/preprocess-image.js';
import type { ImageProcessorSettings } from '../../models/image/index.js';

export interface PatchGrid {
  rows: number;
  cols: number;
  /** Pixels of the model input per patch side. */
  patchSize: number;
  /** Tokens before the patches (1: CLS; 2 with a distillation token). */
  specialTokens: number;
}

/** A rectangle in the original photo's pixels (after EXIF orientation); may reach past its edges. */
export interface PhotoRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Where a map's grid lies: on the model input, and on the photo (with the PNG drawn over it, if asked). */
export interface MapPlacement {
  grid: PatchGrid;
  /** The model input's size in pixels. */
  input: { width: number; height: number };
  /** The photo's size (after EXIF orientation). */
  photo: { width: number; height: number };
  /** The part of the photo the grid covers. */
  region: PhotoRegion;
  png?: Uint8Array;
}

/**
 * The grid for `tokens` tokens over an input of `height`×`width`: from the patch size when the
 * config gives it, else the square patch that leaves one or two special tokens.
 */
export function patchGrid(tokens: number, height: number, width: number, patchSize?: number): PatchGrid {
  const candidates = patchSize !== undefined ? [patchSize] : [1, 2].map((special) => Math.sqrt((height * width) / (tokens - special)));
  for (const p of candidates) {
    if (!Number.isInteger(p) || height % p !== 0 || width % p !== 0) continue;
    const rows = height / p;
    const cols = width / p;
    const specialTokens = tokens - rows * cols;
    if (specialTokens >= 1 && specialTokens <= 2) return { rows, cols, patchSize: p, specialTokens };
  }
  throw new Error(`${tokens} tokens do not make a patch grid over a ${width}×${height} input${patchSize ? ` with patch ${patchSize}` : ''}`);
}

/** The region of a `width`×`height` photo that the model input shows, through resize and crop. */
export function inputRegion(width: number, height: number, settings: ImageProcessorSettings): PhotoRegion {
  const resized = settings.doResize && settings.size ? resizeOutputSize(height, width, settings.size) : { width, height };
  const scaleX = width / resized.width;
  const scaleY = height / resized.height;
  if (!settings.doCenterCrop || !settings.cropSize) return { x: 0, y: 0, width, height };
  const crop = settings.cropSize;
  const { top, left } = centerCropOffsets(resized.height, resized.width, crop);
  return { x: left * scaleX, y: top * scaleY, width: crop.width * scaleX, height: crop.height * scaleY };
}
