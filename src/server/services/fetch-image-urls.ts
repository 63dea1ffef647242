/**
 * Image URLs in a request, fetched before the service sees it (`runService`): `image`, `images[]`,
 * alignment `examples[].image`, and chat `image_url` parts. Each is replaced by its bytes, so the
 * services and schemas only ever see bytes. The fetching, and what it refuses, is
 * src/server/image-url/ (README, "Image URLs").
 */
import { ApiError } from '../../errors.js';
import { isImageUrl, type ImageUrlFetcher } from '../image-url/index.js';

/** URLs fetched for one request at most: each is a connection and up to the image byte limit. */
export const MAX_IMAGE_URLS = 16;

const asRecord = (value: unknown) => (value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined);

/** The URL of a chat `image_url` part (a string, or `{url}`), when it is http(s). */
function chatPartUrl(part: unknown): string | undefined {
  const fields = asRecord(part);
  if (fields?.type !== 'image_url') return undefined;
  const url = typeof fields.image_url === 'string' ? fields.image_url : asRecord(fields.image_url)?.url;
  return typeof url === 'string' && isImageUrl(url) ? url : undefined;
}

/** Every http(s) image URL the request carries, where the services look for images. */
function imageUrlsOf(raw: Record<string, unknown>): string[] {
  const urls: string[] = [];
  const take = (value: unknown) => typeof value === 'string' && isImageUrl(value) && urls.push(value);
  take(raw.image);
  if (Array.isArray(raw.images)) raw.images.forEach(take);
  if (Array.isArray(raw.examples)) raw.examples.forEach((example) => take(asRecord(example)?.image));
  if (Array.isArray(raw.messages)) {
    for (const message of raw.messages) {
      const content = asRecord(message)?.content;
      if (Array.isArray(content)) for (const part of content) take(chatPartUrl(part));
    }
  }
  return urls;
}

/** The request with every image URL replaced by the fetched bytes (the same object when it has none). */
export async function fetchImageUrls(raw: unknown, fetcher: ImageUrlFetcher | undefined, signal: AbortSignal): Promise<unknown> {
  const fields = asRecord(raw);
  if (!fields) return raw;
  const urls = imageUrlsOf(fields);
  if (urls.length === 0) return raw;
  if (!fetcher) throw new ApiError('invalid_request', 'image URLs are not fetched by this server (image_urls.enabled is off): send the image bytes (multipart, base64 or a data: URL)');
  if (urls.length > MAX_IMAGE_URLS) throw new ApiError('invalid_request', `${urls.length} image URLs in one request; at most ${MAX_IMAGE_URLS}`);
  // Each distinct URL once, all at the same time.
  const bytes = new Map(await Promise.all([...new Set(urls)].map(async (url) => [url, await fetcher.fetch(url, signal)] as const)));
  const swap = (value: unknown) => (typeof value === 'string' && bytes.has(value) ? bytes.get(value)! : value);
  const replaced: Record<string, unknown> = { ...fields };
  if ('image' in fields) replaced.image = swap(fields.image);
  if (Array.isArray(fields.images)) replaced.images = fields.images.map(swap);
  if (Array.isArray(fields.examples)) {
    replaced.examples = fields.examples.map((example) => {
      const exampleFields = asRecord(example);
      return exampleFields ? { ...exampleFields, image: swap(exampleFields.image) } : example;
    });
  }
  if (Array.isArray(fields.messages)) {
    replaced.messages = fields.messages.map((message) => {
      const content = asRecord(message)?.content;
      if (!Array.isArray(content)) return message;
      // A fetched chat image becomes a bytes part, as gRPC sends them.
      return {
        ...asRecord(message),
        content: content.map((part) => {
          const url = chatPartUrl(part);
          return url ? { type: 'image', image: bytes.get(url)! } : part;
        }),
      };
    });
  }
  return replaced;
}
