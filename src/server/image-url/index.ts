/**
 * Images by http(s) URL, fetched without becoming an SSRF proxy (issue #31). Errors come from
 * the one table (docs/architecture.md, "Errors"); see fetch-image-url.ts for which.
 */
export { ImageUrlFetcher } from './fetch-image-url.js';
export type { Connect, ConnectTarget, ConnectedResponse, ImageUrlOptions, Resolve, ResolvedAddress } from './options.js';

/** Whether a string field holds an http(s) URL (rather than base64 or a data URL). */
export function isImageUrl(value: string): boolean {
  return /^https?:\/\//i.test(value);
}
