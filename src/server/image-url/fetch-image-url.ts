/**
 * Fetches an image from an http(s) URL without becoming an SSRF proxy (OWASP SSRF prevention):
 * every URL, the first and each redirect's, passes the URL policy (scheme, credentials, host
 * lists, port), its host is resolved once and every address checked, and the connection goes
 * to a checked address. Redirects are followed here, never by the HTTP client. Errors are
 * ApiErrors from the one table (docs/architecture.md, "Errors"): `url_not_allowed`,
 * `invalid_image`, `payload_too_large`, `deadline_exceeded`, `cancelled`.
 */
import { ApiError, toApiError } from '../../errors.js';
import { AddressPolicy } from './address-policy.js';
import { checkedAddresses, resolveWithDns } from './checked-addresses.js';
import { FetchDeadline, raceAbort } from './fetch-deadline.js';
import { HostPolicy } from './host-policy.js';
import { checkImageResponse, responseHeader } from './image-response.js';
import { connectWithNode } from './node-connect.js';
import type { Connect, ConnectedResponse, ImageUrlOptions, Resolve, ResolvedAddress } from './options.js';
import { readLimitedBody } from './read-limited-body.js';
import { systemErrorCode } from './system-error-code.js';
import { checkUrlPolicy } from './url-policy.js';

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);

function requirePositive(name: string, value: number, allowZero = false): void {
  if (!Number.isFinite(value) || value < 0 || (!allowZero && value === 0)) throw new Error(`image URL option ${name} must be a positive number, got ${value}`);
}

export class ImageUrlFetcher {
  private readonly hosts: HostPolicy;
  private readonly addresses: AddressPolicy;
  private readonly resolve: Resolve;
  private readonly connect: Connect;

  /** Throws on a bad allow/deny entry or limit: a configuration error, found at startup. */
  constructor(private readonly options: ImageUrlOptions) {
    this.hosts = new HostPolicy(options.allowHosts, options.denyHosts);
    this.addresses = new AddressPolicy(options.allowAddresses ?? []);
    requirePositive('maxBytes', options.maxBytes);
    requirePositive('timeoutMs', options.timeoutMs);
    requirePositive('maxRedirects', options.maxRedirects, true);
    this.resolve = options.resolve ?? resolveWithDns;
    this.connect = options.connect ?? connectWithNode;
  }

  /** The image's bytes; the caller's signal aborts it (its ApiError reason kept, else `cancelled`). */
  async fetch(url: string, signal?: AbortSignal): Promise<Uint8Array> {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ApiError('invalid_image', 'the image URL is not a valid URL');
    }
    const deadline = new FetchDeadline(this.options.timeoutMs, signal);
    try {
      return await this.follow(parsed, deadline.signal);
    } catch (error) {
      // Once aborted, whatever the abort broke (a socket, a read) is not the story: the abort is.
      throw deadline.signal.aborted ? deadline.reason : toApiError(error);
    } finally {
      deadline.dispose();
    }
  }

  private async follow(first: URL, signal: AbortSignal): Promise<Uint8Array> {
    let url = first;
    for (let redirects = 0; ; redirects++) {
      signal.throwIfAborted();
      checkUrlPolicy(url, this.hosts);
      const addresses = await checkedAddresses(url, this.resolve, this.addresses, signal);
      const response = await this.open(url, addresses, signal);
      if (!REDIRECT_STATUSES.has(response.status)) return this.readImage(url, response, signal);
      response.body.destroy?.();
      if (redirects >= this.options.maxRedirects) {
        throw new ApiError('invalid_image', `image URL redirected more than ${this.options.maxRedirects} times`);
      }
      url = redirectTarget(url, responseHeader(response, 'location'));
    }
  }

  /** The response from the first checked address that accepts a connection. */
  private async open(url: URL, addresses: ResolvedAddress[], signal: AbortSignal): Promise<ConnectedResponse> {
    let lastError: unknown;
    for (const { address, family } of addresses) {
      // A literal IP host reaches here without awaiting anything: an already-aborted fetch stops here.
      signal.throwIfAborted();
      try {
        return await raceAbort(this.connect({ url, address, family, signal }), signal, (late) => late.body.destroy?.());
      } catch (error) {
        if (signal.aborted) throw error;
        lastError = error;
      }
    }
    throw new ApiError('invalid_image', `could not fetch the image URL from ${url.hostname}${systemErrorCode(lastError)}`, { cause: lastError });
  }

  private async readImage(url: URL, response: ConnectedResponse, signal: AbortSignal): Promise<Uint8Array> {
    try {
      const declaredBytes = checkImageResponse(response, url.hostname, this.options.maxBytes);
      return await readLimitedBody(response, { host: url.hostname, maxBytes: this.options.maxBytes, declaredBytes, signal });
    } catch (error) {
      response.body.destroy?.();
      if (error instanceof ApiError || signal.aborted) throw error;
      throw new ApiError('invalid_image', `the connection to ${url.hostname} failed while reading the image${systemErrorCode(error)}`, { cause: error });
    }
  }
}

/** A redirect's Location, relative ones resolved against the URL that answered. */
function redirectTarget(from: URL, location: string | undefined): URL {
  if (!location) throw new ApiError('invalid_image', `image URL on ${from.hostname} redirected without a Location`);
  try {
    return new URL(location, from);
  } catch {
    throw new ApiError('invalid_image', `image URL on ${from.hostname} redirected to an invalid URL`);
  }
}
