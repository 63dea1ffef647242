import assert from 'node:assert/strict';
import path from 'node:path';
import { test } from 'node:test';
import {
  centerCropOffsets,
  fixedOutputSize,
  ImageProcessorConfigError,
  loadImageProcessorConfig,
  parseImageProcessorConfig,
  resizeOutputSize,
} from '../../src/models/image/index.js';
import { sharedDir } from '../helpers/shared-dir.js';
import { VIT_CURRENT_CONFIG, VIT_LEGACY_CONFIG } from '../fixtures/vit-preprocessor-configs.js';

const SQUARE = { defaultToSquare: true };
const SHORTEST = { defaultToSquare: false };
const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];


test('legacy and current ViT configs give the same settings', () => {
  const legacy = parseImageProcessorConfig(VIT_LEGACY_CONFIG, SQUARE);
  const current = parseImageProcessorConfig(VIT_CURRENT_CONFIG, SQUARE);
  assert.deepEqual(legacy, {
    processorType: 'ViTFeatureExtractor',
    legacy: true,
    doResize: true,
    size: { kind: 'exact', height: 224, width: 224 },
    resample: 'bilinear',
    doCenterCrop: false,
    cropSize: undefined,
    doRescale: true,
    rescaleFactor: 1 / 255,
    doNormalize: true,
    imageMean: [0.5, 0.5, 0.5],
    imageStd: [0.5, 0.5, 0.5],
    doConvertRgb: true,
    outputSize: { height: 224, width: 224 },
  });
  assert.deepEqual({ ...current, legacy: true, processorType: 'ViTFeatureExtractor' }, legacy);
  assert.equal(current.rescaleFactor, 1 / 255);
});

test('the real CLIP config (current shape) and its legacy shape', async () => {
  const file = path.join(sharedDir(), 'hf', 'clip-vit-base-patch32', 'preprocessor_config.json');
  const clip = await loadImageProcessorConfig(file, SHORTEST);
  assert.deepEqual(clip.size, { kind: 'shortest_edge', shortestEdge: 224 });
  assert.equal(clip.resample, 'bicubic');
  assert.equal(clip.doCenterCrop, true);
  assert.deepEqual(clip.cropSize, { height: 224, width: 224 });
  assert.deepEqual(clip.imageMean, CLIP_MEAN);
  assert.deepEqual(clip.imageStd, CLIP_STD);
  assert.equal(clip.doRescale, true);
  assert.equal(clip.rescaleFactor, 0.00392156862745098);
  assert.equal(clip.doConvertRgb, true);
  assert.equal(clip.legacy, false);
  assert.deepEqual(fixedOutputSize(clip), { height: 224, width: 224 });

  const legacy = parseImageProcessorConfig(
    { crop_size: 224, do_center_crop: true, do_normalize: true, do_resize: true, feature_extractor_type: 'CLIPFeatureExtractor',
      image_mean: CLIP_MEAN, image_std: CLIP_STD, resample: 3, size: 224 },
    SHORTEST,
  );
  assert.deepEqual(
    { ...legacy, legacy: false, processorType: 'CLIPImageProcessor', rescaleFactor: 0.00392156862745098 },
    clip,
  );
});

test('an int size is a square or a shortest edge, as the family says', () => {
  assert.deepEqual(parseImageProcessorConfig({ size: 384, image_mean: 0.5, image_std: 0.5 }, SQUARE).size, { kind: 'exact', height: 384, width: 384 });
  assert.deepEqual(parseImageProcessorConfig({ size: 384, image_mean: 0.5, image_std: 0.5 }, SHORTEST).size, { kind: 'shortest_edge', shortestEdge: 384 });
  const capped = parseImageProcessorConfig({ size: 800, max_size: 1333, image_mean: 0.5, image_std: 0.5 }, SHORTEST);
  assert.deepEqual(capped.size, { kind: 'shortest_edge', shortestEdge: 800, longestEdge: 1333 });
  assert.equal(capped.outputSize, undefined);
  assert.throws(() => fixedOutputSize(capped), ImageProcessorConfigError);
  assert.deepEqual(parseImageProcessorConfig({ size: [256, 320], image_mean: 0.5, image_std: 0.5 }, SHORTEST).size, { kind: 'exact', height: 256, width: 320 });
  assert.deepEqual(
    parseImageProcessorConfig({ size: { shortest_edge: 336, longest_edge: 672 }, image_mean: 0.5, image_std: 0.5 }, SQUARE).size,
    { kind: 'shortest_edge', shortestEdge: 336, longestEdge: 672 },
  );
});

test('scalar mean/std, PIL filter codes, unknown keys, defaults', () => {
  const s = parseImageProcessorConfig(
    { size: 224, image_mean: 0.5, image_std: [0.25], resample: 4, processor_class: 'X', do_pad: true, unknown: { a: 1 } },
    SQUARE,
  );
  assert.deepEqual(s.imageMean, [0.5, 0.5, 0.5]);
  assert.deepEqual(s.imageStd, [0.25, 0.25, 0.25]);
  assert.equal(s.resample, 'box');
  const codes = [0, 1, 2, 3, 4, 5].map((resample) => parseImageProcessorConfig({ size: 1, resample, do_normalize: false }, SQUARE).resample);
  assert.deepEqual(codes, ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming']);

  const defaults = parseImageProcessorConfig({}, {
    defaultToSquare: false,
    defaults: { size: { kind: 'shortest_edge', shortestEdge: 224 }, resample: 'bicubic', doCenterCrop: true, cropSize: { height: 224, width: 224 }, imageMean: [0.1, 0.2, 0.3], imageStd: [1, 2, 3] },
  });
  assert.equal(defaults.resample, 'bicubic');
  assert.deepEqual(defaults.outputSize, { height: 224, width: 224 });
  assert.deepEqual(defaults.imageStd, [1, 2, 3]);
  const plain = parseImageProcessorConfig({ do_resize: false, do_rescale: false, do_normalize: false }, SQUARE);
  assert.equal(plain.size, undefined);
  assert.equal(plain.outputSize, undefined);
});

test('bad configs give clear errors', async () => {
  const bad: Array<[unknown, RegExp]> = [
    [null, /expected object/i],
    [[1, 2], /expected object/i],
    [{ size: '224', image_mean: 0.5, image_std: 0.5 }, /size/],
    [{ size: -3, image_mean: 0.5, image_std: 0.5 }, /size/],
    [{ size: { longest_edge: 224 }, image_mean: 0.5, image_std: 0.5 }, /size .*not supported/],
    [{ size: { height: 224 }, image_mean: 0.5, image_std: 0.5 }, /size .*not supported/],
    [{ size: { shortest_edge: 224, longest_edge: 200 }, image_mean: 0.5, image_std: 0.5 }, /longest_edge \(200\) must be larger/],
    [{ image_mean: 0.5, image_std: 0.5 }, /do_resize is true but size is missing/],
    [{ size: 224, do_center_crop: true, image_mean: 0.5, image_std: 0.5 }, /crop_size is missing/],
    [{ size: 224, crop_size: { shortest_edge: 224 }, image_mean: 0.5, image_std: 0.5 }, /crop_size must be/],
    [{ size: 224 }, /image_mean or image_std is missing/],
    [{ size: 224, image_mean: [0.5, 0.5], image_std: 0.5 }, /image_mean must be a number or 3 numbers/],
    [{ size: 224, image_mean: 0.5, image_std: [1, 0, 1] }, /image_std must not contain 0/],
    [{ size: 224, image_mean: 0.5, image_std: 0.5, resample: 7 }, /resample 7 is not a PIL filter code/],
    [{ size: 224, image_mean: 0.5, image_std: 0.5, do_resize: 'yes' }, /do_resize/],
  ];
  for (const [config, message] of bad) {
    assert.throws(
      () => parseImageProcessorConfig(config, { defaultToSquare: true, source: 'test.json' }),
      (error: unknown) => {
        assert.ok(error instanceof ImageProcessorConfigError, String(error));
        assert.match(error.message, /^invalid preprocessor config in test\.json: /);
        assert.match(error.message, message);
        return true;
      },
      JSON.stringify(config),
    );
  }
  assert.throws(() => parseImageProcessorConfig({ size: 224, max_size: 400, image_mean: 0.5, image_std: 0.5 }, SQUARE), /max_size/);
  await assert.rejects(loadImageProcessorConfig('/nonexistent/preprocessor_config.json', SQUARE), /cannot read preprocessor config \/nonexistent/);
});

test('resize output size and center-crop offsets follow HF rounding', () => {
  const se = { kind: 'shortest_edge', shortestEdge: 224 } as const;
  assert.deepEqual(resizeOutputSize(300, 451, se), { height: 224, width: 336 }); // int(224 * 451 / 300) = 336
  assert.deepEqual(resizeOutputSize(451, 300, se), { height: 336, width: 224 });
  assert.deepEqual(resizeOutputSize(427, 640, se), { height: 224, width: 335 });
  assert.deepEqual(resizeOutputSize(512, 512, se), { height: 224, width: 224 });
  assert.deepEqual(resizeOutputSize(300, 451, { ...se, longestEdge: 300 }), { height: 200, width: 300 });
  assert.deepEqual(resizeOutputSize(10, 1000, { ...se, longestEdge: 1000 }), { height: 10, width: 1000 }); // int(1000 * 224 / 22400)
  assert.deepEqual(resizeOutputSize(300, 451, { kind: 'exact', height: 224, width: 224 }), { height: 224, width: 224 });
  assert.deepEqual(centerCropOffsets(224, 336, { height: 224, width: 224 }), { top: 0, left: 56 });
  assert.deepEqual(centerCropOffsets(225, 337, { height: 224, width: 224 }), { top: 0, left: 56 });
  assert.deepEqual(centerCropOffsets(200, 150, { height: 224, width: 224 }), { top: -12, left: -37 }); // (150-224)//2 = -37
});
