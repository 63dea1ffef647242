import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { blendHeatmap, colormapLut, normaliseMap } from '../../src/models/image/heatmap-overlay.js';

const rgbAt = (data: Uint8Array, width: number, x: number, y: number) => Array.from(data.subarray((y * width + x) * 3, (y * width + x) * 3 + 3));

describe('heat-map overlay', () => {
  it("has matplotlib's colormap ends", () => {
    const jet = colormapLut('jet');
    assert.deepEqual(Array.from(jet.subarray(0, 3)), [0, 0, 128]);
    assert.deepEqual(Array.from(jet.subarray(255 * 3)), [128, 0, 0]);
    assert.deepEqual(Array.from(colormapLut('viridis').subarray(0, 3)), [0x44, 0x01, 0x54]);
    assert.deepEqual(Array.from(colormapLut('inferno').subarray(255 * 3)), [0xfc, 0xff, 0xa4]);
  });

  it('normalises a map to 0–1 by its own range (a constant map is all zero)', () => {
    assert.deepEqual(Array.from(normaliseMap(Float32Array.from([2, 4, 3]))), [0, 1, 0.5]);
    assert.deepEqual(Array.from(normaliseMap(Float32Array.from([5, 5]))), [0, 0]);
  });

  it('blends only inside the region, cold to hot across the grid, and keeps the photo elsewhere', () => {
    const photo = { width: 8, height: 2, data: new Uint8Array(8 * 2 * 3).fill(100) };
    // A 1×2 grid (cold, hot) over x 2–6 of the photo, fully opaque.
    const out = blendHeatmap(photo, Float32Array.from([0, 1]), { rows: 1, cols: 2 }, { x: 2, y: 0, width: 4, height: 2 }, { colormap: 'jet', alpha: 1 });
    assert.deepEqual(rgbAt(out, 8, 0, 0), [100, 100, 100], 'left of the region');
    assert.deepEqual(rgbAt(out, 8, 7, 1), [100, 100, 100], 'right of the region');
    assert.deepEqual(rgbAt(out, 8, 2, 0), [0, 0, 128], 'the cold cell’s outer half is its own colour');
    assert.deepEqual(rgbAt(out, 8, 5, 1), [128, 0, 0], 'the hot cell’s outer half is its own colour');
    const [r3, , b3] = rgbAt(out, 8, 3, 0);
    const [r4, , b4] = rgbAt(out, 8, 4, 0);
    assert.ok(b3! > r3! && r4! > b4!, 'between the cell centres it interpolates: colder left, hotter right');
    assert.deepEqual(Array.from(photo.data.subarray(0, 3)), [100, 100, 100], 'the photo itself is not changed');
  });
});
