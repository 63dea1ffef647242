/**
 * The checks on a URL before any DNS: scheme, credentials, host lists, port. Every refusal is
 * `url_not_allowed` (docs/architecture.md, "Errors") and says which rule, quoting at most the host.
 */
import { ApiError, clip } from '../../errors.js';
import type { HostPolicy } from './host-policy.js';

const SCHEMES = new Set(['http:', 'https:']);

/**
 * Ports any allowed host may use: the web's two ('' is the scheme's default). Other ports only
 * for hosts named exactly in allowHosts: the safer default, since a URL's port is the easiest way
 * to point the fetcher at a public host's non-web service (SMTP, Redis, an admin port), and a
 * `*.suffix` pattern may cover names someone else controls.
 */
const WEB_PORTS = new Set(['', '80', '443']);

export function checkUrlPolicy(url: URL, hosts: HostPolicy): void {
  if (!SCHEMES.has(url.protocol)) {
    throw new ApiError('url_not_allowed', `image URL scheme "${clip(url.protocol.slice(0, -1), 20)}" is not allowed: only http and https`);
  }
  if (url.username !== '' || url.password !== '') {
    throw new ApiError('url_not_allowed', `image URL for ${url.hostname} carries credentials (user:password@): not allowed`);
  }
  const verdict = hosts.check(url.hostname);
  if (!verdict.allowed) throw new ApiError('url_not_allowed', `image URL host ${url.hostname} ${verdict.rule}`);
  if (!WEB_PORTS.has(url.port) && !verdict.named) {
    throw new ApiError(
      'url_not_allowed',
      `image URL port ${url.port} is not allowed for ${url.hostname}: only 80 and 443, unless the host is named exactly in the allow list`,
    );
  }
}
