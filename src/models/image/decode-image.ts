/**
 * Image decoding with the semantics of Hugging Face's Python `load_image` + PIL:
 * EXIF orientation applied (`ImageOps.exif_transpose`), then `convert('RGB')`: alpha dropped
 * (not composited), greyscale replicated, CMYK by PIL's own formula, 16-bit reduced to 8-bit,
 * embedded ICC profiles ignored. Decoding itself is sharp (libvips).
 */
import sharp, { type Metadata, type Sharp } from 'sharp';
import { ApiError } from '../../errors.js';
import { requireImageSignature } from './image-signature.js';

/** A decoded image: 8-bit RGB, rows top to bottom, pixels interleaved (HWC). */
export interface RgbImage {
  readonly data: Uint8Array;
  readonly width: number;
  readonly height: number;
}

/** Limits applied before any pixel is decoded. */
export interface DecodeLimits {
  /** Largest width × height accepted; larger images are refused from their header (`payload_too_large`). */
  readonly maxPixels: number;
  /** Abort decoding after this many seconds (`invalid_image`); 0 or absent: no timeout. */
  readonly timeoutSeconds?: number;
}

/**
 * Formats accepted: what both PIL and the bundled libvips decode. SVG, PDF and the like are
 * refused even where libvips could render them, since the Python processors cannot read them.
 */
export const SUPPORTED_IMAGE_FORMATS: readonly string[] = ['jpeg', 'png', 'webp', 'gif', 'tiff', 'heif'];

/** What the header says, after the checks; `width`/`height` are after EXIF orientation. */
export interface ImageProbe {
  readonly format: string;
  readonly width: number;
  readonly height: number;
  /** Width and height as stored, before EXIF orientation (they differ for 90° rotations). */
  readonly storedWidth: number;
  readonly storedHeight: number;
  /** EXIF orientation (1–8; 1 when absent). */
  readonly orientation: number;
  readonly channels: number;
  readonly hasAlpha: boolean;
  /** libvips interpretation: 'srgb', 'b-w', 'cmyk', 'rgb16', 'grey16', ... */
  readonly space: string;
  readonly depth: string;
}

/** True when sharp can decode straight to 8-bit RGB/grey with the same result as PIL (no alpha, CMYK, 16-bit). */
export function isPlainRgbOrGrey(probe: ImageProbe): boolean {
  return !probe.hasAlpha && probe.depth === 'uchar' && (probe.space === 'srgb' || probe.space === 'b-w');
}

/** A sharp pipeline for these bytes with the common input options (orientation, no ICC, pixel limit). */
export function openSharp(bytes: Uint8Array, limits: DecodeLimits): Sharp {
  const image = sharp(bytes, {
    autoOrient: true,
    ignoreIcc: true,
    limitInputPixels: Math.max(1, Math.floor(limits.maxPixels)),
    failOn: 'error',
  });
  return limits.timeoutSeconds ? image.timeout({ seconds: limits.timeoutSeconds }) : image;
}

/**
 * Reads the header only: format, size after orientation, channels. Refuses empty input,
 * unsupported formats and images over `limits.maxPixels`, before any pixel is decoded.
 */
export async function probeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<ImageProbe> {
  // Before any parser runs: what is not one of our formats never reaches libvips' loaders.
  const signature = requireImageSignature(bytes, SUPPORTED_IMAGE_FORMATS);
  let meta: Metadata;
  try {
    meta = await openSharp(bytes, limits).metadata();
  } catch (error) {
    throw toImageError(error, limits, signature);
  }
  if (!SUPPORTED_IMAGE_FORMATS.includes(meta.format)) {
    throw new ApiError(
      'invalid_image',
      `unsupported image format '${meta.format}'; supported: ${SUPPORTED_IMAGE_FORMATS.join(', ')}`,
    );
  }
  const { width, height } = meta.autoOrient ?? meta;
  if (!(width > 0 && height > 0)) throw new ApiError('invalid_image', 'image has no pixels');
  if (width * height > limits.maxPixels) throw pixelLimitError(width, height, limits);
  return {
    format: meta.format,
    width,
    height,
    storedWidth: meta.width,
    storedHeight: meta.height,
    orientation: meta.orientation ?? 1,
    channels: meta.channels,
    hasAlpha: meta.hasAlpha,
    space: meta.space,
    depth: meta.depth,
  };
}

/**
 * Decodes an image to 8-bit RGB the way `load_image(...)` + PIL's `convert('RGB')` does.
 * Throws `ApiError('payload_too_large')` over `limits.maxPixels` (checked from the header) and
 * `ApiError('invalid_image')` for empty, truncated, corrupt or unsupported input.
 *
 * @example
 * const { data, width, height } = await decodeImage(bytes, { maxPixels: 50_000_000 });
 */
export async function decodeImage(bytes: Uint8Array, limits: DecodeLimits): Promise<RgbImage> {
  const probe = await probeImage(bytes, limits);
  return decodeProbed(bytes, probe, limits);
}

/** {@link decodeImage} for an already probed image. */
export async function decodeProbed(bytes: Uint8Array, probe: ImageProbe, limits: DecodeLimits): Promise<RgbImage> {
  if (probe.space === 'cmyk') {
    const cmyk = await runRaw(openSharp(bytes, limits).pipelineColourspace('cmyk').toColourspace('cmyk'), limits, probe.format);
    if (cmyk.channels !== 4) throw new ApiError('invalid_image', `CMYK image decoded with ${cmyk.channels} channels`);
    return { data: cmykToRgb(cmyk.data), width: cmyk.width, height: cmyk.height };
  }
  // Output sRGB 8-bit: grey is replicated, 16-bit keeps the high byte (PIL's rule for 16-bit RGB;
  // PIL clips 16-bit greyscale at 255 instead, which we do not copy). Without a resize in the
  // pipeline sharp does not premultiply, so alpha is dropped as it is, like convert('RGB').
  const raw = await runRaw(openSharp(bytes, limits).removeAlpha().toColourspace('srgb'), limits, probe.format);
  return { data: toRgb(raw.data, raw.channels), width: raw.width, height: raw.height };
}

/** Raw 8-bit output of a pipeline, with errors mapped to ApiError. */
export async function runRaw(
  pipeline: Sharp,
  limits: DecodeLimits,
  format?: string,
): Promise<{ data: Uint8Array; width: number; height: number; channels: number }> {
  try {
    const { data, info } = await pipeline.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true });
    return { data, width: info.width, height: info.height, channels: info.channels };
  } catch (error) {
    throw toImageError(error, limits, format);
  }
}

/**
 * Maps a sharp/libvips failure to the API's error: pixel limit → payload_too_large, timeout and
 * anything else → invalid_image, in our words (libvips' text stays in `cause`, for the logs).
 */
export function toImageError(error: unknown, limits: DecodeLimits, format?: string): ApiError {
  if (error instanceof ApiError) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (/exceeds pixel limit/i.test(text)) {
    return new ApiError('payload_too_large', `image exceeds the limit of ${limits.maxPixels} pixels`, { cause: error });
  }
  if (/^timeout/i.test(text)) {
    return new ApiError('invalid_image', `image decoding exceeded ${limits.timeoutSeconds ?? 0} s`, { cause: error });
  }
  const what = format ? `${format.toUpperCase()} image` : 'image';
  return new ApiError('invalid_image', `cannot decode the ${what}: it is corrupt or truncated`, { cause: error });
}

function pixelLimitError(width: number, height: number, limits: DecodeLimits): ApiError {
  return new ApiError(
    'payload_too_large',
    `image is ${width}×${height} = ${width * height} pixels, over the limit of ${limits.maxPixels} pixels`,
  );
}

/** 1, 2 (grey+alpha), 3 or 4 (RGBA) interleaved channels → RGB (alpha dropped, grey replicated). */
export function toRgb(data: Uint8Array, channels: number): Uint8Array {
  if (channels === 3) return data;
  const n = Math.floor(data.length / channels);
  const out = new Uint8Array(n * 3);
  if (channels <= 2) {
    for (let i = 0, j = 0; i < n; i++, j += channels) out[i * 3] = out[i * 3 + 1] = out[i * 3 + 2] = data[j]!;
  } else {
    for (let i = 0, j = 0; i < n; i++, j += channels) {
      out[i * 3] = data[j]!;
      out[i * 3 + 1] = data[j + 1]!;
      out[i * 3 + 2] = data[j + 2]!;
    }
  }
  return out;
}

/**
 * PIL's `cmyk2rgb` (Pillow Convert.c): R = (255 − K) − C·(255 − K)/255 with MULDIV255 rounding,
 * i.e. ≈ (255 − C)(255 − K)/255; no ICC profile. Polarity needs no fix-up: PIL reads every
 * 4-channel JPEG as Adobe-inverted ("CMYK;I") and libvips 8.18 inverts them too, with or without
 * the APP14 Adobe marker (checked in test/image/odd-images.test.ts).
 */
export function cmykToRgb(data: Uint8Array): Uint8Array {
  const n = data.length >> 2;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const nk = 255 - data[i * 4 + 3]!;
    for (let c = 0; c < 3; c++) {
      const t = data[i * 4 + c]! * nk + 128;
      out[i * 3 + c] = nk - (((t >> 8) + t) >> 8);
    }
  }
  return out;
}
