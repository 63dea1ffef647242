/**
 * Image bytes → `pixel_values` (float32, CHW) with the Python image processors' semantics:
 * resize (PIL filter, HF's output-size rounding), center crop (HF offsets, zero padding),
 * rescale, normalise per channel, channels first.
 *
 * Shrinking is sharp's `resize` with `fit: 'fill'` (off the event loop): `linear` for PIL
 * BILINEAR, `cubic` for BICUBIC, `lanczos3` for LANCZOS; like PIL (and unlike transformers.js,
 * which uses an affine transform) it anti-aliases, within ~10/255 of PIL. Enlarging and the
 * NEAREST, BOX and HAMMING filters use an exact port of PIL's resize (pil-resample.ts). For plain
 * 8-bit RGB/grey images decode and resize run as one sharp pipeline (JPEG shrink-on-load where
 * exact); alpha, CMYK and 16-bit images are first decoded to RGB like PIL's `convert('RGB')`.
 */
import sharp, { type KernelEnum } from 'sharp';
import { ApiError } from '../../errors.js';
import {
  decodeProbed,
  isPlainRgbOrGrey,
  openSharp,
  probeImage,
  runRaw,
  toImageError,
  type DecodeLimits,
  type ImageProbe,
  type RgbImage,
} from './decode-image.js';
import type { CropSize, ImageProcessorSettings, Resample, ResizeTarget } from './image-processor-config.js';
import { pilResize, type Cancellation } from './pil-resample.js';
import { preprocessCost, type PreprocessRoute } from './preprocess-cost.js';

/** Model input for one image: `pixelValues` holds 3 × height × width floats, channels first. */
export interface PreprocessedImage {
  readonly pixelValues: Float32Array;
  readonly height: number;
  readonly width: number;
}

/** Per-call options. */
export interface PreprocessOptions {
  /** Checked between stages and inside the JS resize loops. */
  readonly signal?: Cancellation;
  /** The header, when the caller probed it already (the preprocessing pool does). */
  readonly probe?: ImageProbe;
  /**
   * Resize with the exact PIL port for every image (bit-exact with the Python processors, given
   * the same decoded pixels), instead of sharp when shrinking. Slower on large images (no
   * shrink-on-load) and runs on the calling thread: for evaluations and tests.
   */
  readonly exactPil?: boolean;
  /** A buffer to write the pixels into, used when its size is exactly right (else a new one). */
  readonly output?: ArrayBuffer;
}

/** sharp kernels matching PIL filters when shrinking (measured within ~10/255 of PIL). */
const SHARP_KERNEL: Partial<Record<Resample, keyof KernelEnum>> = {
  bilinear: 'linear',
  bicubic: 'cubic',
  lanczos: 'lanczos3',
};

/**
 * Whether sharp (libvips) can do this resize close to PIL: shrinking or keeping each axis, with
 * bilinear, bicubic or lanczos. Enlarging, NEAREST, BOX and HAMMING take the exact PIL port.
 */
function sharpCanResize(from: CropSize, to: CropSize, resample: Resample): boolean {
  return SHARP_KERNEL[resample] !== undefined && to.width <= from.width && to.height <= from.height;
}

/**
 * Decodes and preprocesses an image like `load_image` + the Python image processor.
 * Errors: `ApiError` `invalid_image` (bad bytes) or `payload_too_large` (the image, or its
 * resized size before cropping, over `limits.maxPixels`).
 *
 * @example
 * const settings = parseImageProcessorConfig(json, { defaultToSquare: true });
 * const { pixelValues, height, width } = await preprocessImage(bytes, settings, { maxPixels: 5e7 });
 */
export async function preprocessImage(
  bytes: Uint8Array,
  settings: ImageProcessorSettings,
  limits: DecodeLimits,
  options: PreprocessOptions = {},
): Promise<PreprocessedImage> {
  options.signal?.throwIfAborted();
  const probe = options.probe ?? (await probeImage(bytes, limits));
  const route = preprocessRoute(probe, settings, limits, options);
  preprocessCost(probe, route, settings); // refuses resizes too costly for the JS path
  const size = route.resizeTo;
  if (!size || !route.oneSharpPipeline) {
    const rgb = await decodeProbed(bytes, probe, limits);
    options.signal?.throwIfAborted();
    return preprocessRgbImage(rgb, settings, options);
  }
  let pipeline = openSharp(bytes, limits);
  // A pipeline colourspace (a no-op here) is how sharp is told not to shrink on load.
  if (!exactShrinkOnLoad(probe, size)) pipeline = pipeline.pipelineColourspace(probe.space === 'b-w' ? 'b-w' : 'srgb');
  pipeline = pipeline.resize(size.width, size.height, {
    fit: 'fill',
    kernel: SHARP_KERNEL[settings.resample]!,
    fastShrinkOnLoad: false,
  });
  const raw = await runRaw(pipeline.toColourspace('srgb'), limits, probe.format);
  options.signal?.throwIfAborted();
  if (raw.channels !== 3 || raw.width !== size.width || raw.height !== size.height) {
    throw new ApiError('internal', `resize gave ${raw.width}×${raw.height}×${raw.channels}, expected ${size.width}×${size.height}×3`);
  }
  return toPixelValues(raw, settings, options.output);
}

/**
 * How an image with this header will be preprocessed (see {@link PreprocessRoute}). Throws
 * `payload_too_large` when the resize target itself is over the pixel limit.
 */
export function preprocessRoute(
  probe: ImageProbe,
  settings: ImageProcessorSettings,
  limits: DecodeLimits,
  options: Pick<PreprocessOptions, 'exactPil'> = {},
): PreprocessRoute {
  const resizeTo = settings.doResize ? resizeOutputSize(probe.height, probe.width, requireSize(settings)) : undefined;
  if (resizeTo && resizeTo.width * resizeTo.height > limits.maxPixels) {
    // A shortest-edge resize of a very thin image can be far larger than the image itself.
    throw new ApiError('payload_too_large', `image would be resized to ${resizeTo.width}×${resizeTo.height}, over the limit of ${limits.maxPixels} pixels`);
  }
  const sharpResizes = resizeTo !== undefined && !options.exactPil && sharpCanResize(probe, resizeTo, settings.resample);
  return {
    resizeTo,
    oneSharpPipeline: sharpResizes && isPlainRgbOrGrey(probe),
    jsResize: resizeTo !== undefined && !sharpResizes && (resizeTo.width !== probe.width || resizeTo.height !== probe.height),
  };
}

/**
 * JPEG shrink-on-load (libjpeg's DCT scaling by 2, 4 or 8) is fast and close to PIL when the
 * stored size divides by the factor; otherwise libjpeg rounds the scaled size up, the geometry
 * shifts by a fraction of a pixel and edges differ from PIL by up to ~45/255. This predicts the
 * factor sharp picks with `fastShrinkOnLoad: false` (src/pipeline.cc) and says whether it is exact.
 */
function exactShrinkOnLoad(probe: ImageProbe, size: CropSize): boolean {
  if (probe.format !== 'jpeg') return true;
  const swap = probe.orientation >= 5;
  const hshrink = probe.storedWidth / (swap ? size.height : size.width);
  const vshrink = probe.storedHeight / (swap ? size.width : size.height);
  const shrink = Math.min(hshrink, vshrink);
  const factor = shrink >= 16 ? 8 : shrink >= 8 ? 4 : shrink >= 4 ? 2 : 1;
  return probe.storedWidth % factor === 0 && probe.storedHeight % factor === 0;
}

/** Preprocesses an already decoded RGB image (resize, crop, rescale, normalise). */
export async function preprocessRgbImage(
  image: RgbImage,
  settings: ImageProcessorSettings,
  options: Pick<PreprocessOptions, 'exactPil' | 'signal' | 'output'> = {},
): Promise<PreprocessedImage> {
  let resized = image;
  if (settings.doResize) {
    const size = resizeOutputSize(image.height, image.width, requireSize(settings));
    resized = options.exactPil
      ? pilResize(image, size.width, size.height, settings.resample, options.signal)
      : await resizeRgbImage(image, size, settings.resample, options.signal);
  }
  options.signal?.throwIfAborted();
  return toPixelValues(resized, settings, options.output);
}

/** Resizes 8-bit RGB to exactly `size` like PIL: sharp when it matches PIL closely, else the exact port. */
export async function resizeRgbImage(image: RgbImage, size: CropSize, resample: Resample, signal?: Cancellation): Promise<RgbImage> {
  if (size.width === image.width && size.height === image.height) return image;
  const kernel = SHARP_KERNEL[resample];
  if (!kernel || !sharpCanResize(image, size, resample)) return pilResize(image, size.width, size.height, resample, signal);
  try {
    const input = { raw: { width: image.width, height: image.height, channels: 3 as const }, limitInputPixels: false };
    const { data, info } = await sharp(image.data, input)
      .resize(size.width, size.height, { fit: 'fill', kernel })
      .raw()
      .toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height };
  } catch (error) {
    throw toImageError(error, { maxPixels: image.width * image.height });
  }
}

/**
 * HF `get_resize_output_image_size`: an exact size as given; a shortest edge scales the short
 * side to it and the long side to `int(size * long / short)` (truncated), then caps the long
 * side at `longestEdge` (scaling the short side again, truncated).
 */
export function resizeOutputSize(height: number, width: number, target: ResizeTarget): CropSize {
  if (target.kind === 'exact') return { height: target.height, width: target.width };
  const [short, long] = width <= height ? [width, height] : [height, width];
  let newShort = target.shortestEdge;
  let newLong = Math.trunc((target.shortestEdge * long) / short);
  if (target.longestEdge !== undefined && newLong > target.longestEdge) {
    newShort = Math.trunc((target.longestEdge * newShort) / newLong);
    newLong = target.longestEdge;
  }
  return width <= height ? { height: newLong, width: newShort } : { height: newShort, width: newLong };
}

/** HF `center_crop` offsets: (source − crop) // 2 (floor division; negative means zero padding). */
export function centerCropOffsets(height: number, width: number, crop: CropSize): { top: number; left: number } {
  return { top: Math.floor((height - crop.height) / 2), left: Math.floor((width - crop.width) / 2) };
}

/** The size of the model input for an image of this (resized) size: the crop, if any. */
export function pixelValuesSize(resized: CropSize, settings: ImageProcessorSettings): CropSize {
  return settings.doCenterCrop && settings.cropSize ? settings.cropSize : resized;
}

/**
 * Center crop (or zero pad), rescale and normalise an 8-bit RGB image into float32 CHW, with
 * the same float32 rounding as the Python processors (`x * scale` in float64 → float32, then
 * `(x − mean) / std` in float32), via a 256-entry table per channel. Writes every value of
 * `output` when given (and exactly the right size), else of a new array.
 */
export function toPixelValues(image: RgbImage, settings: ImageProcessorSettings, output?: ArrayBuffer): PreprocessedImage {
  const { width: srcW, height: srcH, data } = image;
  const out = pixelValuesSize({ height: srcH, width: srcW }, settings);
  const { top, left } = centerCropOffsets(srcH, srcW, out);
  const lut = valueTable(settings);
  const plane = out.height * out.width;
  const fits = output !== undefined && output.byteLength === 3 * plane * Float32Array.BYTES_PER_ELEMENT;
  const pixelValues = fits ? new Float32Array(output) : new Float32Array(3 * plane);
  for (let y = 0; y < out.height; y++) {
    const sy = y + top;
    const rowInside = sy >= 0 && sy < srcH;
    for (let x = 0; x < out.width; x++) {
      const sx = x + left;
      const o = y * out.width + x;
      if (rowInside && sx >= 0 && sx < srcW) {
        const s = (sy * srcW + sx) * 3;
        pixelValues[o] = lut[data[s]!]!;
        pixelValues[plane + o] = lut[256 + data[s + 1]!]!;
        pixelValues[2 * plane + o] = lut[512 + data[s + 2]!]!;
      } else {
        pixelValues[o] = lut[0]!;
        pixelValues[plane + o] = lut[256]!;
        pixelValues[2 * plane + o] = lut[512]!;
      }
    }
  }
  return { pixelValues, height: out.height, width: out.width };
}

const tableCache = new WeakMap<ImageProcessorSettings, Float32Array>();

/** value → float for each channel (3 × 256), as numpy computes it. */
function valueTable(settings: ImageProcessorSettings): Float32Array {
  const cached = tableCache.get(settings);
  if (cached) return cached;
  const lut = new Float32Array(3 * 256);
  for (let c = 0; c < 3; c++) {
    const mean = Math.fround(settings.imageMean[c]!);
    const std = Math.fround(settings.imageStd[c]!);
    for (let v = 0; v < 256; v++) {
      let x = settings.doRescale ? Math.fround(v * settings.rescaleFactor) : v;
      if (settings.doNormalize) x = Math.fround(Math.fround(x - mean) / std);
      lut[c * 256 + v] = x;
    }
  }
  tableCache.set(settings, lut);
  return lut;
}

function requireSize(settings: ImageProcessorSettings): ResizeTarget {
  if (!settings.size) throw new ApiError('internal', 'image processor settings: do_resize without size');
  return settings.size;
}
