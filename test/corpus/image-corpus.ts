/**
 * Hostile and odd images, generated at test time from a real photo: truncated, corrupt and
 * mislabelled files of every format the server reads, decompression bombs (headers that claim
 * billions of pixels, a real 64-megapixel image that compresses to kilobytes, animated and
 * multi-page files), formats it refuses (SVG with external references, PDF, BMP) and extreme
 * aspect ratios. Each says what a client must get: `ok`, or the error table's code.
 */
import { readFile } from 'node:fs/promises';
import { crc32, deflateSync } from 'node:zlib';
import sharp from 'sharp';
import type { ErrorCode } from '../../src/errors.js';
import { sharedImage } from '../helpers/shared-dir.js';

export interface ImageCase {
  readonly name: string;
  readonly bytes: Buffer;
  /** What the client claims the bytes are (HTTP Content-Type of a raw body or a multipart part). */
  readonly contentType: string;
  readonly expect: 'ok' | ErrorCode;
  /**
   * The answer where the processor resizes the shortest edge (CLIP: to 224, keeping the aspect
   * ratio, then crops): a long strip becomes a huge intermediate, over the pixel limit.
   */
  readonly expectWhereShortestEdgeResized?: ErrorCode;
}

/** A PNG chunk with its length and CRC. */
function pngChunk(type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4);
  length.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([length, body, crc]);
}

/** A grey 8-bit PNG with this IHDR and these (already filtered) rows, deflated. */
function handMadePng(width: number, height: number, rows: Buffer): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 0, 0, 0, 0], 8); // 8-bit grey, deflate, no filter method, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(rows, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0)),
  ]);
}

/** A JPEG whose start-of-frame claims `width` × `height` (the scan data stays the small image's). */
function jpegClaiming(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  for (let i = 2; i < out.length - 9; ) {
    if (out[i] !== 0xff) throw new Error('not at a JPEG marker');
    const marker = out[i + 1]!;
    if (marker >= 0xc0 && marker <= 0xc2) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + out.readUInt16BE(i + 2);
  }
  throw new Error('no start-of-frame marker');
}

/** A lossless WebP (VP8L, no other chunks) whose header claims `width` × `height`. */
function webpClaiming(losslessWebp: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(losslessWebp);
  if (out.toString('latin1', 12, 16) !== 'VP8L' || out[20] !== 0x2f) throw new Error('not a simple lossless WebP');
  // After the signature byte: 14 bits width − 1, 14 bits height − 1, alpha, version (little-endian).
  const flags = out.readUInt32LE(21) & 0xf0000000;
  out.writeUInt32LE((flags | (width - 1) | ((height - 1) << 14)) >>> 0, 21);
  return out;
}

/** A GIF whose logical screen and first frame claim 65,535 × 65,535. */
function gifClaimingHuge(gif: Buffer): Buffer {
  const out = Buffer.from(gif);
  out.writeUInt16LE(0xffff, 6);
  out.writeUInt16LE(0xffff, 8);
  const globalTable = out[10]! & 0x80 ? 3 * 2 ** ((out[10]! & 0x07) + 1) : 0;
  for (let i = 13 + globalTable; i < out.length; ) {
    if (out[i] === 0x2c) {
      out.writeUInt16LE(0xffff, i + 5);
      out.writeUInt16LE(0xffff, i + 7);
      return out;
    }
    if (out[i] !== 0x21) break;
    // An extension: label, then sub-blocks until a zero length.
    i += 2;
    while (out[i]! > 0) i += out[i]! + 1;
    i += 1;
  }
  throw new Error('no image descriptor');
}

/** Overwrites a stretch in the middle with 0xff bytes. */
function scribbled(bytes: Buffer): Buffer {
  const out = Buffer.from(bytes);
  const start = Math.floor(out.length * 0.4);
  out.fill(0xff, start, Math.min(out.length - 8, start + Math.max(32, Math.floor(out.length / 5))));
  return out;
}

const half = (bytes: Buffer) => bytes.subarray(0, Math.floor(bytes.length / 2));

/**
 * The corpus. `svgProbeUrl` is an address the SVG cases reference: nothing may ever fetch it.
 */
export async function imageCorpus(svgProbeUrl: string): Promise<ImageCase[]> {
  const photo = sharp(await readFile(sharedImage('chelsea.png'))).resize(96, 64);
  const encoded = {
    png: await photo.clone().png().toBuffer(),
    jpeg: await photo.clone().jpeg({ quality: 80 }).toBuffer(),
    webp: await photo.clone().webp().toBuffer(),
    gif: await photo.clone().gif().toBuffer(),
    tiff: await photo.clone().tiff({ compression: 'lzw' }).toBuffer(),
    avif: await photo.clone().avif({ quality: 50 }).toBuffer(),
  };
  const mime = { png: 'image/png', jpeg: 'image/jpeg', webp: 'image/webp', gif: 'image/gif', tiff: 'image/tiff', avif: 'image/avif' };
  const cases: ImageCase[] = [];
  for (const [format, bytes] of Object.entries(encoded) as Array<[keyof typeof encoded, Buffer]>) {
    cases.push({ name: `${format}: valid`, bytes, contentType: mime[format], expect: 'ok' });
    cases.push({ name: `${format}: truncated to half`, bytes: half(bytes), contentType: mime[format], expect: 'invalid_image' });
    cases.push({ name: `${format}: signature only`, bytes: bytes.subarray(0, 16), contentType: mime[format], expect: 'invalid_image' });
  }
  // Corrupt data inside a well-formed file: PNG's CRCs and TIFF's LZW codes catch it.
  cases.push({ name: 'png: corrupt chunk data (CRC mismatch)', bytes: scribbled(encoded.png), contentType: 'image/png', expect: 'invalid_image' });

  // Mislabelled: the bytes decide, not the label; what is not an image is refused.
  cases.push({ name: 'png labelled image/jpeg', bytes: encoded.png, contentType: 'image/jpeg', expect: 'ok' });
  cases.push({ name: 'jpeg labelled image/webp', bytes: encoded.jpeg, contentType: 'image/webp', expect: 'ok' });
  cases.push({ name: 'text labelled image/png', bytes: Buffer.from('this is not an image\n'), contentType: 'image/png', expect: 'invalid_image' });
  cases.push({ name: 'JSON labelled image/png', bytes: Buffer.from('{"image": "x"}'), contentType: 'image/png', expect: 'invalid_image' });
  cases.push({ name: 'empty (0 bytes)', bytes: Buffer.alloc(0), contentType: 'image/png', expect: 'invalid_image' });

  // Formats refused before any parser sees them; the SVG's references must never be fetched.
  const svgs = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="64" height="64"><image xlink:href="${svgProbeUrl}/image.png" width="64" height="64"/></svg>`,
    `<?xml version="1.0"?><!DOCTYPE svg [<!ENTITY xxe SYSTEM "${svgProbeUrl}/entity">]><svg xmlns="http://www.w3.org/2000/svg"><text>&xxe;</text></svg>`,
    `<svg xmlns="http://www.w3.org/2000/svg"><style>@import url(${svgProbeUrl}/style.css);</style></svg>`,
  ];
  svgs.forEach((svg, i) => cases.push({ name: `SVG with an external reference (${i + 1})`, bytes: Buffer.from(svg), contentType: 'image/svg+xml', expect: 'invalid_image' }));
  cases.push({ name: 'PDF', bytes: Buffer.from('%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n'), contentType: 'application/pdf', expect: 'invalid_image' });
  const bmp = Buffer.alloc(58);
  bmp.write('BM', 0, 'latin1');
  cases.push({ name: 'BMP', bytes: bmp, contentType: 'image/bmp', expect: 'invalid_image' });

  // Decompression bombs: refused from the header, before a pixel is decoded.
  cases.push({ name: 'png header claiming 100,000 × 100,000', bytes: handMadePng(100_000, 100_000, Buffer.alloc(1)), contentType: 'image/png', expect: 'payload_too_large' });
  cases.push({
    name: 'png 8,000 × 8,000 of zeros (64 MP in kilobytes)',
    bytes: handMadePng(8000, 8000, Buffer.alloc(8001 * 8000)),
    contentType: 'image/png',
    expect: 'payload_too_large',
  });
  // 65,500 is JPEG's largest dimension (libjpeg refuses more as corrupt).
  cases.push({ name: 'jpeg claiming 65,500 × 65,500', bytes: jpegClaiming(encoded.jpeg, 65_500, 65_500), contentType: 'image/jpeg', expect: 'payload_too_large' });
  // 16,383 is the largest WebP dimension.
  const losslessWebp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).webp({ lossless: true }).toBuffer();
  cases.push({ name: 'webp claiming 16,383 × 16,383', bytes: webpClaiming(losslessWebp, 16_383, 16_383), contentType: 'image/webp', expect: 'payload_too_large' });
  cases.push({ name: 'gif claiming 65,535 × 65,535', bytes: gifClaimingHuge(encoded.gif), contentType: 'image/gif', expect: 'payload_too_large' });
  const plain = (width: number, height: number, background: string) => sharp({ create: { width, height, channels: 3, background } }).png().toBuffer();
  const frame = await plain(1000, 1000, '#336699');
  cases.push({
    name: 'animated gif, 200 frames of 1,000² (the first frame is read)',
    bytes: await sharp(Array.from({ length: 200 }, () => frame), { join: { animated: true } }).gif().toBuffer(),
    contentType: 'image/gif',
    expect: 'ok',
  });
  const bigPage = await plain(8000, 8000, '#000000');
  cases.push({
    name: 'multi-page tiff, 3 pages of 8,000² zeros',
    bytes: await sharp([bigPage, bigPage, bigPage], { join: { animated: true } }).tiff({ compression: 'deflate' }).toBuffer(),
    contentType: 'image/tiff',
    expect: 'payload_too_large',
  });

  // Extreme aspect ratios: accepted ones are resized like any other; past the pixel limit, 413.
  const strip = (width: number, height: number) => plain(width, height, '#808080');
  cases.push({ name: '1 × 1', bytes: await strip(1, 1), contentType: 'image/png', expect: 'ok' });
  for (const [width, height] of [[1, 20_000], [20_000, 1]] as const) {
    const name = `${width.toLocaleString('en')} × ${height.toLocaleString('en')} strip`;
    cases.push({ name, bytes: await strip(width, height), contentType: 'image/png', expect: 'ok', expectWhereShortestEdgeResized: 'payload_too_large' });
  }
  cases.push({ name: '1 × 200 strip', bytes: await strip(1, 200), contentType: 'image/png', expect: 'ok' });
  return cases;
}
