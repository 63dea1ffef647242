/**
 * Parity with the Python processors (PIL) on the four shared photos, ViT and CLIP settings.
 * Bounds measured 2026-11-25 (PIL 9.4, sharp 0.35 / libvips 8.18): max 9, mean ≤ 0.23 of 255.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import {
  decodeImage,
  loadImageProcessorConfig,
  parseImageProcessorConfig,
  pilResize,
  preprocessImage,
  type ImageProcessorSettings,
  type PilFilter,
} from '../../src/models/image/index.js';
import { absDiff, pilJobFor, pilReference, toUint8Units } from '../helpers/pil-reference.js';
import { SHARED_PHOTOS, sharedDir, sharedImage } from '../helpers/shared-dir.js';
import { VIT_LEGACY_CONFIG } from '../fixtures/vit-preprocessor-configs.js';

const MAX_U8 = 10;
const MEAN_U8 = 0.3;
const LIMITS = { maxPixels: 50_000_000 };


async function settingsUnderTest(): Promise<Array<[string, ImageProcessorSettings]>> {
  const clip = await loadImageProcessorConfig(path.join(sharedDir(), 'hf', 'clip-vit-base-patch32', 'preprocessor_config.json'), {
    defaultToSquare: false,
  });
  return [
    ['vit', parseImageProcessorConfig(VIT_LEGACY_CONFIG, { defaultToSquare: true })],
    ['clip', clip],
  ];
}

test('preprocessImage matches the PIL reference on the shared photos', async (t) => {
  for (const [name, settings] of await settingsUnderTest()) {
    const files = SHARED_PHOTOS.map((photo) => sharedImage(photo));
    const refs = await pilReference(files.map((file) => pilJobFor(file, settings)));
    for (const [i, file] of files.entries()) {
      await t.test(`${name} ${path.basename(file)}`, async (st) => {
        const ref = refs[i]!;
        const ours = await preprocessImage(await readFile(file), settings, LIMITS);
        assert.equal(ours.height, 224);
        assert.equal(ours.width, 224);
        assert.equal(ours.pixelValues.length, 3 * 224 * 224);
        assert.deepEqual([ref.height, ref.width], [224, 224]);

        const u8 = toUint8Units(ours.pixelValues, settings, ours.height, ours.width);
        const du8 = absDiff(u8, ref.rgb);
        const dnorm = absDiff(ours.pixelValues, ref.pixelValues!);
        st.diagnostic(
          `${name} ${path.basename(file)}: uint8 max ${du8.max.toFixed(0)} mean ${du8.mean.toFixed(3)}; ` +
            `normalised max ${dnorm.max.toFixed(4)} mean ${dnorm.mean.toFixed(5)}`,
        );
        assert.ok(du8.max <= MAX_U8, `max |Δ| ${du8.max} > ${MAX_U8} (uint8 units)`);
        assert.ok(du8.mean <= MEAN_U8, `mean |Δ| ${du8.mean} > ${MEAN_U8} (uint8 units)`);

        // Where the resized pixel agrees, rescale + normalise must give the very same float32.
        const plane = ours.height * ours.width;
        let same = 0;
        for (let p = 0; p < plane; p++) {
          for (let c = 0; c < 3; c++) {
            if (Math.round(u8[p * 3 + c]!) !== ref.rgb[p * 3 + c]) continue;
            same++;
            assert.equal(ours.pixelValues[c * plane + p], ref.pixelValues![c * plane + p], `pixel ${p} channel ${c}`);
          }
        }
        assert.ok(same > plane * 3 * 0.7, `only ${same} of ${plane * 3} values agree exactly`);
      });
    }
  }
});

test('the PIL resize port is bit-exact for every filter, shrinking and enlarging', async (t) => {
  const file = sharedImage('chelsea.png'); // 451×300
  const image = await decodeImage(await readFile(file), LIMITS);
  const filters: PilFilter[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming']; // PIL codes 0–5
  const sizes = [[224, 224], [600, 500], [100, 37], [451, 200], [900, 300], [13, 7]] as const;
  const refs = await pilReference(filters.flatMap((_, code) =>
    sizes.map(([width, height]) => ({ input: file, op: 'preprocess' as const, resize: { height, width }, resample: code }))));
  let k = 0;
  for (const filter of filters) {
    for (const [width, height] of sizes) {
      const ours = pilResize(image, width, height, filter);
      const d = absDiff(ours.data, refs[k++]!.rgb);
      assert.equal(d.max, 0, `${filter} ${width}×${height}: differs from PIL by up to ${d.max}`);
    }
  }
  t.diagnostic(`${k} resizes identical to PIL`);
});

test('exactPil preprocessing equals PIL on the shared photos', async (t) => {
  for (const [name, settings] of await settingsUnderTest()) {
    const files = SHARED_PHOTOS.map((photo) => sharedImage(photo));
    const refs = await pilReference(files.map((file) => pilJobFor(file, settings)));
    for (const [i, file] of files.entries()) {
      const ours = await preprocessImage(await readFile(file), settings, LIMITS, { exactPil: true });
      const d = absDiff(ours.pixelValues, refs[i]!.pixelValues!);
      t.diagnostic(`${name} ${path.basename(file)} exactPil: normalised max ${d.max}`);
      assert.equal(d.max, 0, `${name} ${path.basename(file)}`);
    }
  }
});
