/**
 * The soak's images: the shared photos at several sizes and formats (so the server's image path
 * allocates buffers of many sizes), each also as base64 and a data URL, encoded once; fresh
 * one-off variants for the chat model's feature cache to miss; and corrupt files for the error path.
 */
import sharp from 'sharp';
import { sharedPhotos } from '../load-generator.js';

export interface SoakImage {
  name: string;
  bytes: Buffer;
  type: string;
  base64: string;
  dataUrl: string;
}

export interface Fixtures {
  images: SoakImage[];
  /** Small images for chats: each chat's image is one of these cut at a fresh offset. */
  chatSources: SoakImage[];
  /** Bytes the server must refuse with 400 invalid_image. */
  corrupt: { name: string; bytes: Buffer; type: string }[];
}

/** Widths from a thumbnail to larger than any model input (the server resizes all of them). */
const WIDTHS = [48, 96, 160, 224, 320, 512, 800];
const FORMATS = ['jpeg', 'png', 'webp'] as const;

function soakImage(name: string, bytes: Buffer, type: string): SoakImage {
  const base64 = bytes.toString('base64');
  return { name, bytes, type, base64, dataUrl: `data:${type};base64,${base64}` };
}

async function encode(input: Uint8Array, width: number, format: (typeof FORMATS)[number]): Promise<Buffer> {
  const resized = sharp(input).resize({ width });
  return format === 'jpeg' ? resized.jpeg({ quality: 85 }).toBuffer() : format === 'png' ? resized.png().toBuffer() : resized.webp({ quality: 80 }).toBuffer();
}

export async function prepareFixtures(): Promise<Fixtures> {
  const photos = await sharedPhotos();
  const images: SoakImage[] = [];
  for (const [p, photo] of photos.entries()) {
    for (const [w, width] of WIDTHS.entries()) {
      const format = FORMATS[(p + w) % FORMATS.length]!;
      images.push(soakImage(`${photo.name}@${width}.${format}`, await encode(photo.bytes, width, format), `image/${format}`));
    }
  }
  const chatSources = await Promise.all(photos.map(async (photo) => soakImage(`${photo.name}@256.png`, await sharp(photo.bytes).resize({ width: 256 }).png().toBuffer(), 'image/png')));
  const png = images.find((image) => image.type === 'image/png')!.bytes;
  const jpeg = images.find((image) => image.type === 'image/jpeg')!.bytes;
  const garbage = Buffer.alloc(4096, 0x5a);
  return {
    images,
    chatSources,
    corrupt: [
      // A PNG signature and header, then noise: passes the magic-number check, fails to decode.
      { name: 'png-noise.png', bytes: Buffer.concat([png.subarray(0, 33), garbage]), type: 'image/png' },
      // A JPEG cut after its first few hundred bytes: no image data.
      { name: 'jpeg-cut.jpg', bytes: jpeg.subarray(0, 300), type: 'image/jpeg' },
      // Not an image at all.
      { name: 'text.png', bytes: Buffer.from('this is not an image, only text pretending to be one\n'.repeat(20)), type: 'image/png' },
    ],
  };
}

/** `source` cut at a random offset and re-encoded: bytes the server has never seen (a cache miss). */
export async function freshVariant(source: SoakImage): Promise<SoakImage> {
  const { width = 256, height = 256 } = await sharp(source.bytes).metadata();
  const left = Math.floor(Math.random() * 16);
  const top = Math.floor(Math.random() * 16);
  const bytes = await sharp(source.bytes)
    .extract({ left, top, width: width - 16, height: height - 16 })
    .jpeg({ quality: 70 + Math.floor(Math.random() * 25) })
    .toBuffer();
  return soakImage(`${source.name}+${left},${top}.jpg`, bytes, 'image/jpeg');
}
