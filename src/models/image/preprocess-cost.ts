/**
 * What preprocessing one image will cost, from its header alone: the bytes it holds at its peak
 * (for the server's pixel-memory budget) and the work of the exact-PIL JavaScript resize (bounded,
 * so a tiny 1×1,000,000 PNG cannot cost seconds of CPU). Estimates err on the high side.
 */
import { ApiError } from '../../errors.js';
import type { ImageProbe } from './decode-image.js';
import type { CropSize, ImageProcessorSettings, Resample } from './image-processor-config.js';

/** Most multiply-adds the JS resize may spend on one image: about a second of one core. */
export const MAX_JS_RESIZE_OPS = 400_000_000;

export interface PreprocessCost {
  /** Peak bytes held while this image is preprocessed (decoded pixels, copies, output floats). */
  readonly bytes: number;
  /** Multiply-adds of the JS resize and colour conversion (0 when sharp does it all). */
  readonly jsOps: number;
}

/** How preprocessing will run: in one sharp pipeline, or decoded to RGB then resized in JS/sharp. */
export interface PreprocessRoute {
  /** The resize target before cropping, when the settings resize. */
  readonly resizeTo: CropSize | undefined;
  /** Decode and resize in one sharp pipeline (plain 8-bit RGB/grey, shrinking with a sharp kernel). */
  readonly oneSharpPipeline: boolean;
  /** The resize uses the exact PIL port (enlarging, or a filter libvips lacks). */
  readonly jsResize: boolean;
}

const BYTES_PER_SAMPLE: Record<string, number> = { uchar: 1, char: 1, ushort: 2, short: 2, uint: 4, int: 4, float: 4, double: 8 };

/** Pillow's kernel width for one axis (`precompute_coeffs`), capped by the input size. */
function taps(inSize: number, outSize: number, resample: Resample): number {
  const support = { nearest: 0, box: 0.5, bilinear: 1, hamming: 1, bicubic: 2, lanczos: 3 }[resample];
  return Math.min(inSize, Math.ceil(support * Math.max(inSize / outSize, 1)) * 2 + 1);
}

/** Multiply-adds of `pilResize` from `from` to `to` (horizontal pass, then vertical), per channel × 3. */
export function pilResizeOps(from: CropSize, to: CropSize, resample: Resample): number {
  if (resample === 'nearest') return to.width * to.height * 3;
  const horizontal = from.width !== to.width ? from.height * to.width * taps(from.width, to.width, resample) * 3 : 0;
  const rowWidth = from.width !== to.width ? to.width : from.width;
  const vertical = from.height !== to.height ? to.height * rowWidth * taps(from.height, to.height, resample) * 3 : 0;
  return horizontal + vertical;
}

/** Bytes of the intermediate image between pilResize's two passes. */
function pilIntermediateBytes(from: CropSize, to: CropSize): number {
  return from.width !== to.width ? from.height * to.width * 3 : 0;
}

/**
 * The cost of preprocessing an image with this header. Throws `payload_too_large` when the exact
 * JS resize would exceed {@link MAX_JS_RESIZE_OPS} (extreme aspect ratios), naming the sizes.
 */
export function preprocessCost(probe: ImageProbe, route: PreprocessRoute, settings: ImageProcessorSettings): PreprocessCost {
  const pixels = probe.storedWidth * probe.storedHeight;
  const decoded = pixels * probe.channels * (BYTES_PER_SAMPLE[probe.depth] ?? 4);
  const out = settings.outputSize ?? route.resizeTo ?? { width: probe.width, height: probe.height };
  const floats = out.width * out.height * 3 * 4;
  const resized = route.resizeTo ? route.resizeTo.width * route.resizeTo.height * 3 : 0;
  if (route.oneSharpPipeline) return { bytes: decoded + resized + floats, jsOps: 0 };

  // libvips' decode, its 8-bit RGB output, our RGB/CMYK conversion copy, then the resize.
  let jsOps = probe.channels === 3 && probe.depth === 'uchar' ? 0 : pixels * 3;
  let bytes = decoded + 2 * pixels * 3 + resized + floats;
  if (route.resizeTo && route.jsResize) {
    jsOps += pilResizeOps(probe, route.resizeTo, settings.resample);
    bytes += pilIntermediateBytes(probe, route.resizeTo);
  }
  if (jsOps > MAX_JS_RESIZE_OPS) {
    const to = route.resizeTo ? `${route.resizeTo.width}×${route.resizeTo.height}` : 'RGB';
    throw new ApiError(
      'payload_too_large',
      `resizing this ${probe.width}×${probe.height} image to ${to} would take ~${Math.round(jsOps / 1e6)}M operations, ` +
        `over the limit of ${MAX_JS_RESIZE_OPS / 1e6}M: images this elongated must be resized before sending`,
    );
  }
  return { bytes, jsOps };
}
