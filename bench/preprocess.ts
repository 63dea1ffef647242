/**
 * Preprocessing benchmark: our preprocessImage vs transformers.js (RawImage.fromBlob + image
 * processor built offline from the same preprocessor_config.json), on the shared photos, ViT and
 * CLIP settings. Prints the median time per image (after warm-up) and the pixel differences
 * (normalised units) between transformers.js, ours and PIL (the Python processors' path).
 *
 *   npx tsx bench/preprocess.ts [--runs 50] [--large]
 *
 * --large also times a generated 4032×3024 JPEG (where JPEG shrink-on-load matters).
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { AutoProcessor, env, RawImage, ViTImageProcessor } from '@huggingface/transformers';
import sharp from 'sharp';
import { loadImageProcessorConfig, parseImageProcessorConfig, preprocessImage, type ImageProcessorSettings } from '../src/models/image/index.js';
import { absDiff, pilJobFor, pilReference } from '../test/helpers/pil-reference.js';
import { SHARED_PHOTOS, sharedDir, sharedImage } from '../test/helpers/shared-dir.js';
import { VIT_CURRENT_CONFIG, VIT_LEGACY_CONFIG } from '../test/fixtures/vit-preprocessor-configs.js';

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '50' }, large: { type: 'boolean', default: false } } });
const RUNS = Number(args.runs);
const WARMUP = 5;
const LIMITS = { maxPixels: 100_000_000 };


type Processor = (image: RawImage) => Promise<{ pixel_values: { data: Float32Array; dims: number[] } }>;

async function median(fn: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    await fn();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)]!;
}

const fmt = (d: { max: number; mean: number }): string => `${d.max.toFixed(3)}/${d.mean.toFixed(4)}`;

async function main(): Promise<void> {
  env.allowRemoteModels = false;
  env.localModelPath = path.join(sharedDir(), 'hf');
  const clipTjs = (await AutoProcessor.from_pretrained('clip-vit-base-patch32')) as unknown as Processor;
  const clip = await loadImageProcessorConfig(path.join(sharedDir(), 'hf', 'clip-vit-base-patch32', 'preprocessor_config.json'), { defaultToSquare: false });
  const cases: Array<[string, ImageProcessorSettings, Processor]> = [
    ['vit', parseImageProcessorConfig(VIT_CURRENT_CONFIG, { defaultToSquare: true }), new ViTImageProcessor(VIT_CURRENT_CONFIG) as unknown as Processor],
    ['clip', clip, clipTjs],
  ];

  const tmp = await mkdtemp(path.join(tmpdir(), 'bench-preprocess-'));
  try {
    const files: string[] = SHARED_PHOTOS.map((p) => sharedImage(p));
    if (args.large) files.push(await makeLargeJpeg(tmp));
    console.log(`node ${process.version}, sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}), ${RUNS} runs after ${WARMUP} warm-up, median ms per image`);
    console.log('diffs: normalised units, max/mean; "ours~PIL" is the default path, "exact" the exactPil option');
    console.log('case  image            ours    exact   tjs     tjs/ours  ours~PIL       tjs~PIL        tjs~ours');
    for (const [name, settings, tjs] of cases) {
      const refs = await pilReference(files.map((f) => pilJobFor(f, settings)));
      for (const [i, file] of files.entries()) {
        const bytes = await readFile(file);
        const ours = await preprocessImage(bytes, settings, LIMITS);
        const theirs = await tjs(await RawImage.fromBlob(new Blob([bytes])));
        const tjsValues = theirs.pixel_values.data;
        const dims = theirs.pixel_values.dims.join('×');
        const sameShape = tjsValues.length === ours.pixelValues.length;
        const tOurs = await median(() => preprocessImage(bytes, settings, LIMITS));
        const tExact = await median(() => preprocessImage(bytes, settings, LIMITS, { exactPil: true }));
        const tTjs = await median(async () => tjs(await RawImage.fromBlob(new Blob([bytes]))));
        const ref = refs[i]!.pixelValues!;
        console.log(
          `${name.padEnd(5)} ${path.basename(file).padEnd(16)} ${tOurs.toFixed(2).padStart(6)}  ${tExact.toFixed(2).padStart(6)}  ` +
            `${tTjs.toFixed(2).padStart(6)}  ${(tTjs / tOurs).toFixed(2).padStart(6)}×   ${fmt(absDiff(ours.pixelValues, ref)).padEnd(13)}  ` +
            (sameShape ? `${fmt(absDiff(tjsValues, ref)).padEnd(13)}  ${fmt(absDiff(tjsValues, ours.pixelValues))}` : `tjs shape ${dims}`),
        );
      }
    }
    // transformers.js reads an int `size` (legacy ViT configs) as a shortest edge capped at the same value.
    const legacy = new ViTImageProcessor(VIT_LEGACY_CONFIG) as unknown as Processor;
    const out = await legacy(await RawImage.fromBlob(new Blob([await readFile(sharedImage('chelsea.png'))])));
    console.log(`transformers.js, legacy ViT config (size: 224), chelsea.png 451×300 → pixel_values ${out.pixel_values.dims.join('×')}`);
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A photo-like 4032×3024 JPEG: rocket.jpg enlarged with lanczos3 plus mild noise, quality 90. */
async function makeLargeJpeg(dir: string): Promise<string> {
  const [W, H] = [4032, 3024];
  const up = await sharp(sharedImage('rocket.jpg')).resize(W, H, { kernel: 'lanczos3', fit: 'fill' }).raw().toBuffer();
  let seed = 12345;
  for (let i = 0; i < up.length; i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    up[i] = Math.max(0, Math.min(255, up[i]! + ((seed >>> 16) % 17) - 8));
  }
  const file = path.join(dir, 'large-4032x3024.jpg');
  await sharp(up, { raw: { width: W, height: H, channels: 3 } }).jpeg({ quality: 90 }).toFile(file);
  return file;
}

await main();
