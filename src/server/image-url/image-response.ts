/**
 * What a fetched response must be to count as an image: status 200, an `image/*` Content-Type,
 * a Content-Length (when given) within the byte limit. Errors are `invalid_image` and
 * `payload_too_large` (docs/architecture.md, "Errors").
 */
import { ApiError, clip } from '../../errors.js';
import type { ConnectedResponse } from './options.js';

/** A response header's (first) value. */
export function responseHeader(response: ConnectedResponse, name: string): string | undefined {
  const value = response.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Checks the head of a final (non-redirect) response; returns its declared length, if any. */
export function checkImageResponse(response: ConnectedResponse, host: string, maxBytes: number): number | undefined {
  if (response.status !== 200) throw new ApiError('invalid_image', `image URL on ${host} answered HTTP ${response.status}, not 200`);
  const contentType = responseHeader(response, 'content-type');
  const mediaType = contentType?.split(';')[0]?.trim().toLowerCase() ?? '';
  if (!/^image\/[a-z0-9][a-z0-9!#$&^_.+-]*$/.test(mediaType)) {
    // The type is the server's text: printable ASCII only, and short.
    const shown = contentType === undefined ? 'no Content-Type' : `Content-Type "${clip(contentType.replace(/[^\x20-\x7e]/g, '?'), 80)}"`;
    throw new ApiError('invalid_image', `image URL on ${host} answered ${shown}, not an image/* type`);
  }
  const length = responseHeader(response, 'content-length');
  if (length === undefined || !/^\d+$/.test(length.trim())) return undefined;
  const declared = Number(length.trim());
  if (declared > maxBytes) {
    throw new ApiError('payload_too_large', `image URL on ${host} announces ${declared} bytes, over the limit of ${maxBytes}`);
  }
  return declared;
}
