/**
 * Image formats by magic number, checked before any decoder sees the bytes: formats we do not
 * serve (SVG, PDF, and whatever else libvips could parse) are refused without being parsed,
 * so no parser of theirs (librsvg, poppler, XML) ever runs on a client's bytes.
 */
import { ApiError } from '../../errors.js';

export type ImageSignature = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'heif';

const ascii = (bytes: Uint8Array, offset: number, text: string): boolean =>
  bytes.length >= offset + text.length && [...text].every((ch, i) => bytes[offset + i] === ch.charCodeAt(0));

/** ISO-BMFF brands of HEIF/AVIF images (ftyp box at offset 4). */
const HEIF_BRANDS = ['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1', 'avif', 'avis'];

/** The format the bytes start like, or undefined. */
export function imageSignature(bytes: Uint8Array): ImageSignature | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return 'jpeg';
  if (bytes[0] === 0x89 && ascii(bytes, 1, 'PNG\r\n\x1a\n')) return 'png';
  if (ascii(bytes, 0, 'RIFF') && ascii(bytes, 8, 'WEBP')) return 'webp';
  if (ascii(bytes, 0, 'GIF87a') || ascii(bytes, 0, 'GIF89a')) return 'gif';
  if (ascii(bytes, 0, 'II*\0') || ascii(bytes, 0, 'MM\0*')) return 'tiff';
  if (ascii(bytes, 4, 'ftyp') && HEIF_BRANDS.some((brand) => ascii(bytes, 8, brand))) return 'heif';
  return undefined;
}

/** A client-facing name for what the bytes look like, for the refusal message. */
function describe(bytes: Uint8Array): string {
  const head = Buffer.from(bytes.subarray(0, 256)).toString('latin1').trimStart();
  if (/^(<\?xml[^>]*>\s*)?(<!--[\s\S]*?-->\s*)*(<!DOCTYPE svg|<svg)/i.test(head)) return 'SVG';
  if (head.startsWith('%PDF')) return 'PDF';
  if (bytes[0] === 0x42 && bytes[1] === 0x4d) return 'BMP';
  if (head.startsWith('{') || head.startsWith('[')) return 'JSON, not image bytes';
  return 'not a recognised image';
}

/**
 * Throws `invalid_image` unless the bytes start like a supported image format.
 * Empty input is `invalid_image` too.
 */
export function requireImageSignature(bytes: Uint8Array, supported: readonly string[]): ImageSignature {
  if (bytes.length === 0) throw new ApiError('invalid_image', 'image is empty (0 bytes)');
  const signature = imageSignature(bytes);
  if (!signature || !supported.includes(signature)) {
    throw new ApiError('invalid_image', `unsupported image format (${describe(bytes)}); supported: ${supported.join(', ')}`);
  }
  return signature;
}
