import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadImageProcessorConfig, preprocessImage, type ImageProcessorSettings } from '../../src/models/image/index.js';
import { PreprocessPool } from '../../src/models/image/preprocess-pool.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';

const limits = { maxPixels: 5e7 };

describe('preprocessing pool: recycled pixel buffers', () => {
  let pool: PreprocessPool;
  let settings: ImageProcessorSettings;
  before(async () => {
    pool = new PreprocessPool({ threads: 1, limits });
    settings = await loadImageProcessorConfig(path.join(await tinyVitDir(), 'preprocessor_config.json'), { defaultToSquare: true });
  });
  after(() => pool.close());

  it('writes the next image into a recycled buffer, every value of it', async () => {
    const cat = await readFile(sharedImage('chelsea.png'));
    const rocket = await readFile(sharedImage('rocket.jpg'));
    const first = await pool.preprocess(cat, settings);
    pool.recycle(first.pixelValues);
    assert.equal(pool.spareBuffers, 1);
    const second = await pool.preprocess(rocket, settings);
    assert.equal(pool.spareBuffers, 0, 'the recycled buffer went to the worker');
    assert.equal(first.pixelValues.length, 0, 'the recycled array was transferred away');
    const fresh = await preprocessImage(rocket, settings, limits);
    assert.deepEqual(second.pixelValues, fresh.pixelValues);
  });

  it('moves the image bytes to the worker only when asked, and only a whole buffer', async () => {
    const file = await readFile(sharedImage('rocket.jpg'));
    const expected = (await preprocessImage(file, settings, limits)).pixelValues;
    const kept = new Uint8Array(file);
    assert.deepEqual((await pool.preprocess(kept, settings)).pixelValues, expected);
    assert.equal(kept.length, file.length, 'copied by default: the caller may read them again');
    const moved = new Uint8Array(file);
    assert.deepEqual((await pool.preprocess(moved, settings, { transferImage: true })).pixelValues, expected);
    assert.equal(moved.length, 0, 'transferred: detached here');
    const slab = new Uint8Array(file.length + 16);
    slab.set(file, 16);
    const view = slab.subarray(16);
    assert.deepEqual((await pool.preprocess(view, settings, { transferImage: true })).pixelValues, expected);
    assert.equal(view.length, file.length, 'a view of part of a buffer is copied: moving it would detach the rest');
  });

  it('keeps only whole, live buffers', async () => {
    const image = await pool.preprocess(await readFile(sharedImage('coffee.png')), settings);
    pool.recycle(image.pixelValues.subarray(3)); // a view of part of a buffer: not kept
    assert.equal(pool.spareBuffers, 0);
    pool.recycle(image.pixelValues);
    pool.recycle(image.pixelValues); // given twice, kept once: two tasks cannot both take it
    assert.equal(pool.spareBuffers, 1);
    const astronaut = await readFile(sharedImage('astronaut.png'));
    const next = await pool.preprocess(astronaut, settings);
    assert.equal(pool.spareBuffers, 0);
    assert.equal(image.pixelValues.length, 0, 'the kept buffer was used, and is the next image now');
    assert.deepEqual(next.pixelValues, (await preprocessImage(astronaut, settings, limits)).pixelValues);
  });
});
