/** The settings of an image-URL fetcher and the two seams tests inject (DNS and the connection). */

export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

export interface ConnectTarget {
  url: URL;
  /** The address already checked by the address policy: the connection goes here and nowhere else. */
  address: string;
  family: 4 | 6;
  signal: AbortSignal;
}

export interface ConnectedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: AsyncIterable<Uint8Array> & { destroy?(): void };
}

export type Resolve = (host: string) => Promise<ResolvedAddress[]>;
export type Connect = (target: ConnectTarget) => Promise<ConnectedResponse>;

export interface ImageUrlOptions {
  /** Hosts allowed (exact names, or `*.example.com` suffix patterns). Empty: every public host. */
  allowHosts: string[];
  /** Hosts refused even when allowed. */
  denyHosts: string[];
  /** CIDR ranges allowed although private/loopback/... (for tests or an internal image host the operator trusts). Default []. */
  allowAddresses: string[];
  /** Largest image in bytes: refused as payload_too_large from Content-Length up front, else while streaming. */
  maxBytes: number;
  /** The whole fetch, redirects included; past it: deadline_exceeded (see fetch-deadline.ts for why). */
  timeoutMs: number;
  /** Redirects followed before giving up with invalid_image, e.g. 3. */
  maxRedirects: number;
  /** Injectable for tests: resolves a host name to every address (default: dns.promises.lookup(host, { all: true, verbatim: true })). */
  resolve?: Resolve;
  /**
   * Injectable for tests: opens the request to an already-checked address (default: node:http/https
   * with a `lookup` that returns exactly that address, `servername` = the host for TLS, Host header =
   * the URL's host). Returns the response status, headers and body stream.
   */
  connect?: Connect;
}
