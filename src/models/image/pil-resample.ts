/**
 * Pillow's resize, ported exactly (Pillow 9.x `libImaging/Resample.c` and the NEAREST path of
 * `Geometry.c`), for the cases libvips does not match PIL: enlarging (libvips places its samples
 * half a pixel off PIL's centres: up to 28/255 apart), BOX and HAMMING (no libvips kernel) and
 * NEAREST (libvips picks other pixels on exact boundaries). The server runs it in preprocessing
 * workers, never on the event loop, with its work bounded (preprocess-cost.ts); downscaling with
 * the other filters goes through sharp.
 */
import type { RgbImage } from './decode-image.js';

/** Cooperative cancellation (an AbortSignal, or a flag shared with a worker), checked once per row. */
export interface Cancellation {
  throwIfAborted(): void;
}

/** PIL resampling filters by name (PIL codes 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming). */
export type PilFilter = 'nearest' | 'lanczos' | 'bilinear' | 'bicubic' | 'box' | 'hamming';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const CLIP_HIGH = ONE * 256;

const sinc = (x: number): number => (x === 0 ? 1 : Math.sin(x * Math.PI) / (x * Math.PI));

const FILTERS: Record<Exclude<PilFilter, 'nearest'>, { support: number; f: (x: number) => number }> = {
  box: { support: 0.5, f: (x) => (x > -0.5 && x <= 0.5 ? 1 : 0) },
  bilinear: { support: 1, f: (x) => (Math.abs(x) < 1 ? 1 - Math.abs(x) : 0) },
  hamming: {
    support: 1,
    f: (x) => {
      const a = Math.abs(x);
      if (a === 0) return 1;
      if (a >= 1) return 0;
      const p = a * Math.PI;
      return (Math.sin(p) / p) * (0.54 + 0.46 * Math.cos(p));
    },
  },
  bicubic: {
    support: 2,
    f: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
  lanczos: { support: 3, f: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0) },
};

interface Coefficients {
  /** Per output index: first input index and tap count. */
  readonly bounds: Int32Array;
  /** Fixed-point weights, `ksize` per output index. */
  readonly kk: Int32Array;
  readonly ksize: number;
}

/** Pillow `precompute_coeffs` + `normalize_coeffs_8bpc` for the full input range. */
function coefficients(inSize: number, outSize: number, filter: { support: number; f: (x: number) => number }): Coefficients {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = filter.support * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const weights = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = filter.f((x + xmin - center + 0.5) * ss);
      weights[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? weights[x]! / ww : weights[x]!;
      kk[xx * ksize + x] = w < 0 ? Math.trunc(-0.5 + w * ONE) : Math.trunc(0.5 + w * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { bounds, kk, ksize };
}

const clip8 = (v: number): number => (v >= CLIP_HIGH ? 255 : v <= 0 ? 0 : Math.floor(v / ONE));

/**
 * PIL `Image.resize(size, resample, reducing_gap=None)` on 8-bit RGB: horizontal pass, then
 * vertical pass, each rounded to 8 bits, with 22-bit fixed-point weights; bit-exact with Pillow.
 */
export function pilResize(image: RgbImage, width: number, height: number, filter: PilFilter, signal?: Cancellation): RgbImage {
  if (filter === 'nearest') return pilResizeNearest(image, width, height);
  const f = FILTERS[filter];
  let { data, width: w, height: h } = image;
  const vert = h !== height ? coefficients(h, height, f) : undefined;
  if (w !== width) {
    // Only the rows the vertical pass reads (Pillow's ybox_first / ybox_last).
    const first = vert ? vert.bounds[0]! : 0;
    const last = vert ? vert.bounds[height * 2 - 2]! + vert.bounds[height * 2 - 1]! : h;
    if (vert) for (let i = 0; i < height; i++) vert.bounds[i * 2] = vert.bounds[i * 2]! - first;
    data = horizontal(data, w, first, last, width, coefficients(w, width, f), signal);
    w = width;
    h = last - first;
  }
  if (vert) {
    data = vertical(data, w, height, vert, signal);
    h = height;
  }
  return { data, width: w, height: h };
}

function horizontal(src: Uint8Array, inW: number, y0: number, y1: number, outW: number, c: Coefficients, signal?: Cancellation): Uint8Array {
  const out = new Uint8Array(outW * (y1 - y0) * 3);
  const { bounds, kk, ksize } = c;
  for (let y = y0; y < y1; y++) {
    signal?.throwIfAborted();
    const row = y * inW * 3;
    const orow = (y - y0) * outW * 3;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = bounds[xx * 2]!;
      const xmax = bounds[xx * 2 + 1]!;
      const k = xx * ksize;
      let s0 = HALF, s1 = HALF, s2 = HALF;
      for (let x = 0; x < xmax; x++) {
        const p = row + (x + xmin) * 3;
        const wgt = kk[k + x]!;
        s0 += src[p]! * wgt;
        s1 += src[p + 1]! * wgt;
        s2 += src[p + 2]! * wgt;
      }
      out[orow + xx * 3] = clip8(s0);
      out[orow + xx * 3 + 1] = clip8(s1);
      out[orow + xx * 3 + 2] = clip8(s2);
    }
  }
  return out;
}

function vertical(src: Uint8Array, w: number, outH: number, c: Coefficients, signal?: Cancellation): Uint8Array {
  const out = new Uint8Array(w * outH * 3);
  const { bounds, kk, ksize } = c;
  const stride = w * 3;
  for (let yy = 0; yy < outH; yy++) {
    signal?.throwIfAborted();
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    const k = yy * ksize;
    for (let i = 0; i < stride; i++) {
      let s = HALF;
      for (let y = 0; y < ymax; y++) s += src[(y + ymin) * stride + i]! * kk[k + y]!;
      out[yy * stride + i] = clip8(s);
    }
  }
  return out;
}

/**
 * PIL NEAREST: source index = trunc(scale/2 + i·scale), the position accumulated step by step in
 * float64 as Pillow's ImagingScaleAffine does (a direct `(i + 0.5) * scale` differs on boundaries).
 */
export function pilResizeNearest(image: RgbImage, width: number, height: number): RgbImage {
  const xs = nearestIndices(image.width, width);
  const ys = nearestIndices(image.height, height);
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = ys[y]! * image.width;
    for (let x = 0; x < width; x++) {
      const s = (row + xs[x]!) * 3;
      const o = (y * width + x) * 3;
      out[o] = image.data[s]!;
      out[o + 1] = image.data[s + 1]!;
      out[o + 2] = image.data[s + 2]!;
    }
  }
  return { data: out, width, height };
}

function nearestIndices(from: number, to: number): Int32Array {
  const scale = from / to;
  const indices = new Int32Array(to);
  let position = scale * 0.5;
  for (let i = 0; i < to; i++, position += scale) indices[i] = Math.min(from - 1, Math.trunc(position));
  return indices;
}
