/**
 * Idefics3's image splitting: the sizes transformers computes (longest edge, even sides; then
 * multiples of the view), the tile grid row by row with the global view last, and each view's
 * pixels exactly the resized image's, rescaled and normalised.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseImageProcessorConfig, resizeRgbImage, toPixelValues, type RgbImage } from '../../src/models/image/index.js';
import { longestEdgeSize, splitIntoViews, viewGridSize } from '../../src/models/image/image-views.js';

const settings = parseImageProcessorConfig(
  { do_resize: true, size: { height: 32, width: 32 }, resample: 1, do_rescale: true, rescale_factor: 1 / 255, do_normalize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] },
  { defaultToSquare: true },
);

/** A photo-like test image: smooth gradients, so resizes are well defined. */
function gradient(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, ((x + y) * 127) / (width + height)], (y * width + x) * 3);
  }
  return { data, width, height };
}

describe('image views (Idefics3 splitting)', () => {
  it('sizes the resizes as transformers does', () => {
    assert.deepEqual(longestEdgeSize(300, 451, 128), { height: 86, width: 128 }, 'trunc(85.1) = 85, made even');
    assert.deepEqual(longestEdgeSize(640, 427, 2048), { height: 2048, width: 1366 });
    assert.deepEqual(viewGridSize(86, 128, 32), { height: 96, width: 128 });
    assert.deepEqual(viewGridSize(2048, 1366, 512), { height: 2048, width: 1536 });
    assert.deepEqual(viewGridSize(20, 30, 32), { height: 32, width: 32 });
  });

  it('cuts the resized image into tiles row by row, then the global view, each normalised', async () => {
    const image = gradient(451, 300);
    const { pixelValues, views, rows, cols } = await splitIntoViews(image, settings, { longestEdge: 128, viewSize: 32 });
    assert.deepEqual([rows, cols, views], [3, 4, 13]);
    const plane = 3 * 32 * 32;
    assert.equal(pixelValues.length, views * plane);
    const first = await resizeRgbImage(image, { height: 86, width: 128 }, 'lanczos');
    const grid = await resizeRgbImage(first, { height: 96, width: 128 }, 'lanczos');
    const normalise = { ...settings, doResize: false };
    // Tile (row 2, col 3) is the grid's square at (32, 64).
    const tile = new Uint8Array(32 * 32 * 3);
    for (let y = 0; y < 32; y++) tile.set(grid.data.subarray(((32 + y) * 128 + 64) * 3, ((32 + y) * 128 + 96) * 3), y * 96);
    const expected = toPixelValues({ data: tile, width: 32, height: 32 }, normalise).pixelValues;
    assert.deepEqual([...pixelValues.subarray(6 * plane, 7 * plane)], [...expected]);
    const global = toPixelValues(await resizeRgbImage(grid, { height: 32, width: 32 }, 'lanczos'), normalise).pixelValues;
    assert.deepEqual([...pixelValues.subarray(12 * plane)], [...global]);
  });

  it('keeps an image that fits one view as that one view', async () => {
    const { views, rows, cols } = await splitIntoViews(gradient(20, 30), settings, { longestEdge: 32, viewSize: 32 });
    assert.deepEqual([rows, cols, views], [0, 0, 1]);
  });
});
