/**
 * Draws patch-grid maps (attention, similarity) as heat over a photo: each map is min-max
 * normalised, sampled bilinearly at every photo pixel inside the region the model input covers,
 * coloured with a colormap and blended with the photo; outside the region the photo is left as
 * it is. One map gives the photo at its own size; several give a labelled mosaic of smaller tiles.
 *
 *   const png = await renderHeatmapPng(photo, [{ label: 'mean', values }], { rows: 14, cols: 14 }, region, { colormap: 'jet', alpha: 0.5 });
 */
import { interpolateInferno, interpolateViridis } from 'd3-scale-chromatic';
import sharp from 'sharp';
import type { RgbImage } from './decode-image.js';

export const COLORMAPS = ['jet', 'viridis', 'inferno'] as const;
export type Colormap = (typeof COLORMAPS)[number];

export interface HeatmapStyle {
  colormap: Colormap;
  /** Weight of the heat over the photo, 0–1. */
  alpha: number;
}

/** A rectangle of the photo in pixels (fractional; may reach past the edges). */
export interface HeatmapRegion {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface HeatmapGridShape {
  rows: number;
  cols: number;
}

export interface LabelledMap {
  label: string;
  /** rows × cols values, row-major. */
  values: Float32Array;
}

/** Longest side of one tile of a mosaic. */
const TILE_SIDE = 320;
const LABEL_HEIGHT = 28;

/** matplotlib's jet: piecewise linear in each channel. */
function jet(t: number): [number, number, number] {
  const channel = (offset: number) => Math.max(0, Math.min(1, 1.5 - Math.abs(4 * t - offset)));
  return [channel(3), channel(2), channel(1)];
}

function hexColour(hex: string): [number, number, number] {
  const n = Number.parseInt(hex.slice(1), 16);
  return [((n >> 16) & 255) / 255, ((n >> 8) & 255) / 255, (n & 255) / 255];
}

const luts = new Map<Colormap, Uint8Array>();

/** 256 RGB entries of a colormap, from low (0) to high (255). */
export function colormapLut(name: Colormap): Uint8Array {
  let lut = luts.get(name);
  if (!lut) {
    lut = new Uint8Array(256 * 3);
    for (let i = 0; i < 256; i++) {
      const t = i / 255;
      const rgb = name === 'jet' ? jet(t) : hexColour(name === 'viridis' ? interpolateViridis(t) : interpolateInferno(t));
      for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(rgb[c]! * 255);
    }
    luts.set(name, lut);
  }
  return lut;
}

/** Values scaled to 0–1 by their own minimum and maximum (all zero when constant). */
export function normaliseMap(values: Float32Array): Float32Array {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const range = max - min;
  return values.map((v) => (range > 0 ? (v - min) / range : 0));
}

/** Per output pixel along one axis: the two grid cells it lies between and the weight of the second. */
function axisSamples(pixels: number, start: number, length: number, cells: number) {
  const first = new Int32Array(pixels);
  const weight = new Float32Array(pixels);
  const inside = new Uint8Array(pixels);
  for (let p = 0; p < pixels; p++) {
    const centre = p + 0.5;
    if (centre < start || centre >= start + length) continue;
    inside[p] = 1;
    const u = Math.max(0, Math.min(cells - 1, ((centre - start) / length) * cells - 0.5));
    const cell = Math.min(cells - 2, Math.floor(u));
    first[p] = Math.max(0, cell);
    weight[p] = cells === 1 ? 0 : u - first[p]!;
  }
  return { first, weight, inside };
}

/** The photo with one map's heat blended over `region` (a new RGB buffer). */
export function blendHeatmap(photo: RgbImage, map: Float32Array, grid: HeatmapGridShape, region: HeatmapRegion, style: HeatmapStyle): Uint8Array {
  if (map.length !== grid.rows * grid.cols) throw new RangeError(`map has ${map.length} values, grid is ${grid.rows}×${grid.cols}`);
  const lut = colormapLut(style.colormap);
  const heat = normaliseMap(map);
  const xs = axisSamples(photo.width, region.x, region.width, grid.cols);
  const ys = axisSamples(photo.height, region.y, region.height, grid.rows);
  const out = Uint8Array.from(photo.data);
  const a = style.alpha;
  const colOffset = grid.cols > 1 ? 1 : 0;
  const rowOffset = grid.rows > 1 ? grid.cols : 0;
  for (let y = 0; y < photo.height; y++) {
    if (!ys.inside[y]) continue;
    const top = ys.first[y]! * grid.cols;
    const wy = ys.weight[y]!;
    for (let x = 0; x < photo.width; x++) {
      if (!xs.inside[x]) continue;
      const i = top + xs.first[x]!;
      const wx = xs.weight[x]!;
      const upper = heat[i]! * (1 - wx) + heat[i + colOffset]! * wx;
      const lower = heat[i + rowOffset]! * (1 - wx) + heat[i + rowOffset + colOffset]! * wx;
      const level = Math.round((upper * (1 - wy) + lower * wy) * 255) * 3;
      const p = (y * photo.width + x) * 3;
      for (let c = 0; c < 3; c++) out[p + c] = Math.round(out[p + c]! * (1 - a) + lut[level + c]! * a);
    }
  }
  return out;
}

async function encodePng(data: Uint8Array, width: number, height: number): Promise<Buffer> {
  return sharp(data, { raw: { width, height, channels: 3 } }).png({ compressionLevel: 6 }).toBuffer();
}

/**
 * Characters XML 1.0 cannot hold at all, even escaped (controls, lone surrogates, U+FFFE/F): a
 * label (a client's text, for localisation) carrying one would fail the SVG parse.
 */
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** A label bar drawn by libvips from our own SVG: the label escaped, characters XML cannot hold dropped. */
function labelSvg(text: string, width: number): Buffer {
  const escaped = text.replace(NOT_XML, '').replace(/[<>&"]/g, (ch) => `&#${ch.charCodeAt(0)};`);
  return Buffer.from(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${LABEL_HEIGHT}"><rect width="100%" height="100%" fill="black" fill-opacity="0.6"/>` +
      `<text x="8" y="${LABEL_HEIGHT - 8}" font-family="sans-serif" font-size="17" fill="white">${escaped}</text></svg>`,
  );
}

/**
 * One map: the photo at its size with the heat over it. Several: a mosaic of tiles (the photo
 * scaled to at most 320 px a side), each with its label in a bar at the top.
 */
export async function renderHeatmapPng(
  photo: RgbImage,
  maps: readonly LabelledMap[],
  grid: HeatmapGridShape,
  region: HeatmapRegion,
  style: HeatmapStyle,
): Promise<Buffer> {
  if (maps.length === 1) return encodePng(blendHeatmap(photo, maps[0]!.values, grid, region, style), photo.width, photo.height);
  const scale = Math.min(1, TILE_SIDE / Math.max(photo.width, photo.height));
  const width = Math.max(1, Math.round(photo.width * scale));
  const height = Math.max(1, Math.round(photo.height * scale));
  const small = await sharp(photo.data, { raw: { width: photo.width, height: photo.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer();
  const tile = { data: small, width, height };
  const tileRegion = { x: region.x * (width / photo.width), y: region.y * (height / photo.height), width: region.width * (width / photo.width), height: region.height * (height / photo.height) };
  const columns = Math.ceil(Math.sqrt(maps.length));
  const rows = Math.ceil(maps.length / columns);
  const tiles = maps.map((map, i) => {
    const left = (i % columns) * width;
    const top = Math.floor(i / columns) * height;
    const blended = blendHeatmap(tile, map.values, grid, tileRegion, style);
    const raw = Buffer.from(blended.buffer, blended.byteOffset, blended.byteLength);
    return [
      { input: raw, raw: { width, height, channels: 3 as const }, left, top },
      { input: labelSvg(map.label, width), left, top },
    ];
  });
  return sharp({ create: { width: columns * width, height: rows * height, channels: 3, background: { r: 0, g: 0, b: 0 } } })
    .composite(tiles.flat())
    .png({ compressionLevel: 6 })
    .toBuffer();
}
