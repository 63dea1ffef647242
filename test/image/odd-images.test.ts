/**
 * Odd inputs, generated here with sharp into a temp dir, each compared with the PIL reference of
 * the same file: EXIF orientation, greyscale, CMYK, alpha, 16-bit, palette, other formats, and
 * the error paths (empty, truncated, not an image, too many pixels).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import { ApiError } from '../../src/errors.js';
import {
  decodeImage,
  parseImageProcessorConfig,
  preprocessImage,
  type ImageProcessorSettings,
  type RgbImage,
} from '../../src/models/image/index.js';
import { absDiff, pilJobFor, pilReference, toUint8Units, type PilJob } from '../helpers/pil-reference.js';
import { sharedImage } from '../helpers/shared-dir.js';

const LIMITS = { maxPixels: 50_000_000 };
const VIT = parseImageProcessorConfig(
  { image_processor_type: 'ViTImageProcessor', size: { height: 224, width: 224 }, resample: 2, image_mean: 0.5, image_std: 0.5 },
  { defaultToSquare: true },
);
const CLIP = parseImageProcessorConfig(
  { image_processor_type: 'CLIPImageProcessor', size: { shortest_edge: 224 }, crop_size: 224, do_center_crop: true, resample: 3,
    image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711] },
  { defaultToSquare: false },
);
/** Resampling differences between libvips and PIL (uint8 units), as for the shared photos. */
const MAX_U8 = 10;
const MEAN_U8 = 0.5;

let dir: string;
let upright: RgbImage;
const file = (name: string): string => path.join(dir, name);

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'odd-images-'));
  const { data, info } = await sharp(sharedImage('chelsea.png')).raw().toBuffer({ resolveWithObject: true });
  upright = { data, width: info.width, height: info.height };
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const rawInput = (img: RgbImage, channels: 1 | 2 | 3 | 4 = 3) => ({ raw: { width: img.width, height: img.height, channels } });

/** The stored pixels whose display under EXIF orientation `o` is `img` (PIL exif_transpose's inverse). */
function storeForOrientation(img: RgbImage, o: number): RgbImage {
  const { width: W, height: H } = img;
  const swap = o >= 5;
  const [sw, sh] = swap ? [H, W] : [W, H];
  const out = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const [sx, sy] = [
        [x, y], [W - 1 - x, y], [W - 1 - x, H - 1 - y], [x, H - 1 - y],
        [y, x], [y, W - 1 - x], [H - 1 - y, W - 1 - x], [H - 1 - y, x],
      ][o - 1]!;
      out.set(img.data.subarray((y * W + x) * 3, (y * W + x) * 3 + 3), (sy! * sw + sx!) * 3);
    }
  }
  return { data: out, width: sw, height: sh };
}

/** Decodes `name` with us and PIL and checks both; then preprocesses under ViT and CLIP settings. */
async function checkAgainstPil(
  name: string,
  t: { diagnostic(message: string): void },
  options: { decodeMax?: number; grey16?: PilJob['grey16']; settings?: Array<[string, ImageProcessorSettings]>; maxU8?: number } = {},
): Promise<RgbImage> {
  const settingsList = options.settings ?? [['vit', VIT], ['clip', CLIP]];
  const grey16 = options.grey16 ?? 'pil';
  const [decoded, ...prepared] = await pilReference([
    { input: file(name), op: 'decode', grey16 },
    ...settingsList.map(([, s]) => ({ ...pilJobFor(file(name), s), grey16 })),
  ]);
  const bytes = await readFile(file(name));
  const ours = await decodeImage(bytes, LIMITS);
  assert.deepEqual([ours.width, ours.height], [decoded!.width, decoded!.height], `${name}: size`);
  const d = absDiff(ours.data, decoded!.rgb);
  t.diagnostic(`${name} (PIL mode ${decoded!.mode}) decode: max ${d.max} mean ${d.mean.toFixed(4)}`);
  assert.ok(d.max <= (options.decodeMax ?? 0), `${name}: decoded pixels differ from PIL by up to ${d.max}`);
  for (const [i, [label, settings]] of settingsList.entries()) {
    const pv = await preprocessImage(bytes, settings, LIMITS);
    const ref = prepared[i]!;
    assert.deepEqual([pv.height, pv.width], [ref.height, ref.width]);
    const p = absDiff(toUint8Units(pv.pixelValues, settings, pv.height, pv.width), ref.rgb);
    t.diagnostic(`${name} ${label}: max ${p.max.toFixed(1)} mean ${p.mean.toFixed(3)}`);
    const maxU8 = options.maxU8 ?? MAX_U8;
    // toUint8Units undoes float32 normalisation: exact values come back within 1e-3.
    assert.ok(p.max <= maxU8 + 1e-3 && p.mean <= MEAN_U8, `${name} ${label}: max ${p.max} mean ${p.mean}`);
  }
  return ours;
}

test('EXIF orientations 1–8 (PNG, lossless): decode equals the upright image and PIL', async (t) => {
  for (let o = 1; o <= 8; o++) {
    const stored = storeForOrientation(upright, o);
    await sharp(stored.data, rawInput(stored)).png().withMetadata({ orientation: o }).toFile(file(`orient-${o}.png`));
    const ours = await checkAgainstPil(`orient-${o}.png`, t);
    assert.deepEqual([ours.width, ours.height], [upright.width, upright.height]);
    assert.ok(Buffer.from(ours.data).equals(upright.data), `orientation ${o}: not the upright image`);
  }
});

test('EXIF orientation 6 and 3 in a JPEG match PIL', async (t) => {
  for (const o of [3, 6]) {
    const stored = storeForOrientation(upright, o);
    await sharp(stored.data, rawInput(stored)).jpeg({ quality: 95 }).withMetadata({ orientation: o }).toFile(file(`orient-${o}.jpg`));
    const ours = await checkAgainstPil(`orient-${o}.jpg`, t);
    assert.deepEqual([ours.width, ours.height], [upright.width, upright.height]);
    assert.ok(absDiff(ours.data, upright.data).mean < 2, 'close to the upright image');
  }
});

test('greyscale PNG and JPEG are replicated to RGB like PIL', async (t) => {
  await sharp(upright.data, rawInput(upright)).toColourspace('b-w').png().toFile(file('grey.png'));
  await sharp(upright.data, rawInput(upright)).toColourspace('b-w').jpeg({ quality: 90 }).toFile(file('grey.jpg'));
  for (const name of ['grey.png', 'grey.jpg']) {
    const ours = await checkAgainstPil(name, t);
    for (let i = 0; i < 300; i += 3) assert.ok(ours.data[i] === ours.data[i + 1] && ours.data[i] === ours.data[i + 2], 'ours.data[i] === ours.data[i + 1] && ours.data[i] === ours.data[i + 2]');
  }
});

test('CMYK JPEG, with and without the Adobe marker, converts by PIL formula (no ICC)', async (t) => {
  const cmyk = await sharp(upright.data, rawInput(upright)).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
  await writeFile(file('cmyk.jpg'), cmyk);
  await checkAgainstPil('cmyk.jpg', t, { decodeMax: 1 });
  // Drop the APP14 "Adobe" segment: PIL still reads it as inverted CMYK, and so does libvips 8.18.
  const at = cmyk.indexOf(Buffer.from([0xff, 0xee]));
  assert.ok(at > 0, 'sharp wrote an Adobe marker');
  const plain = Buffer.concat([cmyk.subarray(0, at), cmyk.subarray(at + 2 + cmyk.readUInt16BE(at + 2))]);
  await writeFile(file('cmyk-plain.jpg'), plain);
  await checkAgainstPil('cmyk-plain.jpg', t, { decodeMax: 1 });
});

test('alpha is dropped, not composited (RGBA, grey+alpha, palette with transparency)', async (t) => {
  const { width, height } = upright;
  const rgba = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    rgba.set(upright.data.subarray(i * 3, i * 3 + 3), i * 4);
    rgba[i * 4 + 3] = i % width < 100 ? 0 : (i * 7) & 255; // a transparent band that still holds colour
  }
  await sharp(rgba, rawInput(upright, 4)).png().toFile(file('rgba.png'));
  const ours = await checkAgainstPil('rgba.png', t);
  assert.ok(Buffer.from(ours.data).equals(upright.data), 'RGB of an RGBA image is its colour channels');
  await sharp(upright.data, rawInput(upright)).png().toFile(file('rgb.png'));
  const [a, b] = await Promise.all(['rgba.png', 'rgb.png'].map(async (n) => preprocessImage(await readFile(file(n)), CLIP, LIMITS)));
  assert.ok(absDiff(a!.pixelValues, b!.pixelValues).max < 0.02, 'preprocessed like the RGB image');

  await sharp(rgba, rawInput(upright, 4)).toColourspace('b-w').png().toFile(file('grey-alpha.png'));
  await checkAgainstPil('grey-alpha.png', t);
  await sharp(rgba, rawInput(upright, 4)).png({ palette: true, colours: 64, dither: 0 }).toFile(file('palette-alpha.png'));
  await checkAgainstPil('palette-alpha.png', t);
});

test('palette PNG and GIF, WebP and TIFF decode like PIL', async (t) => {
  const img = () => sharp(upright.data, rawInput(upright));
  await img().png({ palette: true, colours: 32, dither: 0 }).toFile(file('palette.png'));
  await img().gif().toFile(file('image.gif'));
  await img().webp({ lossless: true }).toFile(file('image.webp'));
  await img().tiff().toFile(file('image.tiff'));
  for (const name of ['palette.png', 'image.gif', 'image.webp', 'image.tiff']) await checkAgainstPil(name, t);
});

test('16-bit PNGs keep the high byte (RGB: as PIL; grey: PIL clips, we scale)', async (t) => {
  const { width, height, data } = upright;
  const rgb16 = new Uint16Array(width * height * 3).map((_, i) => data[i]! * 256 + ((i * 97) & 255));
  await sharp(rgb16, rawInput(upright)).toColourspace('rgb16').png().toFile(file('rgb16.png'));
  const ours = await checkAgainstPil('rgb16.png', t);
  assert.ok(Buffer.from(ours.data).equals(data), 'high byte of each 16-bit sample');

  const grey16 = new Uint16Array(width * height).map((_, i) => data[i * 3]! * 256 + ((i * 31) & 255));
  await sharp(grey16, { raw: { width, height, channels: 1 } }).toColourspace('grey16').png().toFile(file('grey16.png'));
  const grey = await checkAgainstPil('grey16.png', t, { grey16: 'scale' });
  assert.equal(grey.data[3 * 5], data[3 * 5], 'high byte');
  const [pil] = await pilReference([{ input: file('grey16.png'), op: 'decode', grey16: 'pil' }]);
  t.diagnostic(`PIL's own convert('RGB') of 16-bit grey (mode ${pil!.mode}) differs by mean ${absDiff(grey.data, pil!.rgb).mean.toFixed(1)}`);
});

test('small images are enlarged exactly like PIL, and a crop larger than the image pads with zeros', async (t) => {
  await sharp(upright.data, rawInput(upright)).resize(90, 60).png().toFile(file('small.png'));
  const padded = parseImageProcessorConfig(
    { size: { height: 200, width: 150 }, do_center_crop: true, crop_size: { height: 224, width: 300 }, resample: 3, image_mean: 0.5, image_std: 0.5 },
    { defaultToSquare: false },
  );
  const box = parseImageProcessorConfig({ size: 224, resample: 4, image_mean: 0.5, image_std: 0.5 }, { defaultToSquare: true });
  const settings: Array<[string, ImageProcessorSettings]> = [['vit', VIT], ['clip', CLIP], ['crop-pad', padded], ['box', box]];
  await checkAgainstPil('small.png', t, { settings, maxU8: 0 });
  // One axis shrinks, the other grows (ViT's 224×224 from 451×120): the PIL port too.
  await sharp(upright.data, rawInput(upright)).resize(451, 120).png().toFile(file('wide.png'));
  await checkAgainstPil('wide.png', t, { maxU8: 0 });
});

test('large JPEGs: shrink-on-load only where it keeps PIL geometry', async (t) => {
  // 1600×1067 → 224: sharp would decode at 1/2 or 1/4 scale, and 1067 is not divisible by either.
  const big = sharp(upright.data, rawInput(upright)).resize(1600, 1067, { kernel: 'lanczos3', fit: 'fill' });
  await big.clone().jpeg({ quality: 90 }).toFile(file('large.jpg'));
  await big.clone().toColourspace('b-w').jpeg({ quality: 90 }).toFile(file('large-grey.jpg'));
  // 2048×1536: divisible, shrink-on-load by 2 (ViT) is used.
  await sharp(upright.data, rawInput(upright)).resize(2048, 1536, { kernel: 'lanczos3', fit: 'fill' }).jpeg({ quality: 90 }).toFile(file('large-even.jpg'));
  for (const name of ['large.jpg', 'large-grey.jpg', 'large-even.jpg']) await checkAgainstPil(name, t, { maxU8: 4 });
});

// ---- errors ----

async function assertApiError(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof ApiError, `expected ApiError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  });
}

test('bad bytes are invalid_image with a clear message', async () => {
  const jpeg = await readFile(sharedImage('rocket.jpg'));
  const png = await readFile(sharedImage('chelsea.png'));
  let seed = 7;
  const random = Buffer.from(Array.from({ length: 4096 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 255));
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['empty', new Uint8Array(0), /empty/],
    ['truncated JPEG', jpeg.subarray(0, jpeg.length >> 1), /^cannot decode the JPEG image: it is corrupt or truncated$/],
    ['JPEG header only', jpeg.subarray(0, 200), /^cannot decode the JPEG image/],
    ['truncated PNG', png.subarray(0, png.length >> 1), /^cannot decode the PNG image/],
    ['random bytes', random, /unsupported image format \(not a recognised image\)/],
    ['text', Buffer.from('hello, this is not an image\n'), /unsupported image format/],
    // Refused by its magic number, before librsvg (or any XML parser) sees it.
    ['SVG', Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>'), /unsupported image format \(SVG\)/],
    ['SVG with an XML prolog', Buffer.from('<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><image href="http://169.254.169.254/x"/></svg>'), /\(SVG\)/],
    ['PDF', Buffer.from('%PDF-1.4\n%âãÏÓ\n'), /\(PDF\)/],
  ];
  for (const [label, bytes, message] of cases) {
    await assertApiError(decodeImage(bytes, LIMITS), 'invalid_image', message).catch((e) => assert.fail(`${label}: ${e}`));
    await assertApiError(preprocessImage(bytes, VIT, LIMITS), 'invalid_image', message).catch((e) => assert.fail(`${label}: ${e}`));
  }
});

test('too many pixels is payload_too_large, refused from the header', async () => {
  // A JPEG whose frame header claims 60000×60000, and a PNG whose IHDR claims 100000×100000.
  const jpeg = Buffer.from(await readFile(sharedImage('rocket.jpg')));
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  jpeg.writeUInt16BE(60000, sof + 5);
  jpeg.writeUInt16BE(60000, sof + 7);
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(data.length);
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(body));
    return Buffer.concat([head, body, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(100000, 0);
  ihdr.writeUInt32BE(100000, 4);
  ihdr.set([8, 2, 0, 0, 0], 8);
  const png = Buffer.concat([
    Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(Buffer.alloc(1000))),
    chunk('IEND', Buffer.alloc(0)),
  ]);
  for (const bomb of [jpeg, png]) {
    const start = performance.now();
    await assertApiError(decodeImage(bomb, LIMITS), 'payload_too_large', /50000000 pixels/);
    await assertApiError(preprocessImage(bomb, CLIP, LIMITS), 'payload_too_large', /50000000 pixels/);
    assert.ok(performance.now() - start < 500, 'refused before decoding');
  }
  // A 4000×1 image under CLIP's shortest-edge resize would become 896000×224.
  const thin = await sharp({ create: { width: 4000, height: 1, channels: 3, background: 'gray' } }).png().toBuffer();
  await assertApiError(preprocessImage(thin, CLIP, LIMITS), 'payload_too_large', /resized to 896000×224/);
  const small = await readFile(sharedImage('chelsea.png'));
  await assertApiError(decodeImage(small, { maxPixels: 10_000 }), 'payload_too_large', /limit of 10000 pixels/);
  await assertApiError(preprocessImage(small, VIT, { maxPixels: 10_000 }), 'payload_too_large', /limit of 10000 pixels/);
});

test('an aborted signal stops preprocessing', async () => {
  const bytes = await readFile(sharedImage('chelsea.png'));
  await assert.rejects(preprocessImage(bytes, VIT, LIMITS, { signal: AbortSignal.abort() }), { name: 'AbortError' });
});
