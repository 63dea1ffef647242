/**
 * States how far transformers.js' ViT processor is from the Python (PIL) reference, next to
 * ours: transformers.js resizes with sharp's affine transform (no anti-aliasing), so it sits
 * further from PIL than our preprocessing, which follows PIL's resize.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { RawImage, ViTImageProcessor } from '@huggingface/transformers';
import { parseImageProcessorConfig, preprocessImage } from '../../src/models/image/index.js';
import { vitPreprocessorJson } from '../../src/models/generator/index.js';
import { absDiff, pilJobFor, pilReference } from '../helpers/pil-reference.js';
import { SHARED_PHOTOS, sharedImage } from '../helpers/shared-dir.js';

type Processor = (image: RawImage) => Promise<{ pixel_values: { data: Float32Array } }>;

describe('difference to transformers.js (ViTImageProcessor)', () => {
  it('ours is closer to PIL than transformers.js on every shared photo', async (t) => {
    const config = vitPreprocessorJson('current');
    const settings = parseImageProcessorConfig(config, { defaultToSquare: true });
    const transformersJs = new ViTImageProcessor(config) as unknown as Processor;
    const files = SHARED_PHOTOS.map((name) => sharedImage(name));
    const references = await pilReference(files.map((file) => pilJobFor(file, settings)));
    for (const [i, file] of files.entries()) {
      const bytes = await readFile(file);
      const reference = references[i]!.pixelValues!;
      const ours = absDiff((await preprocessImage(bytes, settings, { maxPixels: 5e7 })).pixelValues, reference);
      const theirs = absDiff((await transformersJs(await RawImage.fromBlob(new Blob([bytes])))).pixel_values.data, reference);
      t.diagnostic(
        `${SHARED_PHOTOS[i]}: vs PIL (normalised units) ours max ${ours.max.toFixed(3)} mean ${ours.mean.toFixed(4)}; ` +
          `transformers.js max ${theirs.max.toFixed(3)} mean ${theirs.mean.toFixed(4)}`,
      );
      assert.ok(ours.mean < theirs.mean, `${SHARED_PHOTOS[i]}: ours mean ${ours.mean} vs transformers.js ${theirs.mean}`);
      assert.ok(ours.max <= 0.1, `${SHARED_PHOTOS[i]}: ours max ${ours.max} (10/255 in uint8 is 0.078 normalised)`);
    }
  });
});
