/**
 * The address a request comes from, as a rate-limit key when API keys are off. Behind a reverse
 * proxy the socket's peer is the proxy, so X-Forwarded-For is read, but only when the peer is a
 * trusted proxy (anyone else can write the header), and then the right-most address that is not
 * itself a trusted proxy: every proxy appends the address it saw, so entries left of that one
 * were written by the client and prove nothing.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

/** Named ranges, as Express's `trust proxy` names them. */
const NAMED_RANGES: Record<string, readonly string[]> = {
  loopback: ['127.0.0.0/8', '::1/128'],
  linklocal: ['169.254.0.0/16', 'fe80::/10'],
  uniquelocal: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7'],
};

const parsedRanges = new WeakMap<readonly string[], Range[]>();

/**
 * Parses trusted proxies: CIDRs (`10.0.0.0/8`, `fd00::/8`), single addresses, or `loopback`,
 * `linklocal`, `uniquelocal`. Throws naming the bad entry; call it at startup to check a setting.
 */
export function parseTrustedProxies(entries: readonly string[]): Range[] {
  return entries.flatMap((entry) => {
    const named = NAMED_RANGES[entry.trim().toLowerCase()];
    if (named) return named.map(parseRange);
    try {
      return [parseRange(entry.trim())];
    } catch {
      throw new Error(`trusted proxy "${entry}" is not an IP address, a CIDR range or one of ${Object.keys(NAMED_RANGES).join(', ')}`);
    }
  });
}

/**
 * The client's address: the peer's, or behind trusted proxies the right-most X-Forwarded-For
 * entry that is not a trusted proxy (all trusted: the left-most). An entry that is not an
 * address ends the walk at the last proxy that could be believed. IPv4-mapped IPv6 addresses
 * become IPv4 (`::ffff:1.2.3.4` → `1.2.3.4`), IPv6 is written in its canonical short form.
 */
export function clientKey(remoteAddress: string | undefined, forwardedFor: string | undefined, trustedProxies: readonly string[]): string {
  const peer = parseAddress(remoteAddress);
  // Not an IP socket (a Unix socket, a destroyed one): no address to key on but what it says.
  if (!peer) return remoteAddress || 'unknown';
  const ranges = trustedRanges(trustedProxies);
  if (!forwardedFor || !isTrusted(peer, ranges)) return peer.toString();
  let client = peer;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = parseForwardedEntry(hops[i]!);
    if (!hop) break;
    client = hop;
    if (!isTrusted(hop, ranges)) break;
  }
  return client.toString();
}

/** Parsed once per list (configuration arrays live as long as the server). */
function trustedRanges(entries: readonly string[]): Range[] {
  let ranges = parsedRanges.get(entries);
  if (!ranges) {
    ranges = parseTrustedProxies(entries);
    parsedRanges.set(entries, ranges);
  }
  return ranges;
}

function isTrusted(address: Address, ranges: readonly Range[]): boolean {
  return ranges.some((range) => range[0].kind() === address.kind() && address.match(range));
}

/** A strict address (four-part decimal IPv4, or IPv6), IPv4-mapped IPv6 as IPv4; else undefined. */
function parseAddress(text: string | undefined): Address | undefined {
  if (text === undefined) return undefined;
  // ipaddr.js also takes `127.1`, `0x7f.0.0.1` and `2130706433` as IPv4; no proxy writes those.
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (!ipaddr.IPv6.isValid(text)) return undefined;
  const address = ipaddr.IPv6.parse(text);
  return address.isIPv4MappedAddress() ? address.toIPv4Address() : address;
}

/** An X-Forwarded-For entry: an address, possibly with a port (`1.2.3.4:5678`, `[::1]:80`, as some proxies write). */
function parseForwardedEntry(entry: string): Address | undefined {
  const text = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(text);
  if (bracketed) return parseAddress(bracketed[1]);
  const withPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d{1,5}$/.exec(text);
  return parseAddress(withPort ? withPort[1] : text);
}

/** A CIDR or a single address; an IPv4-mapped IPv6 range becomes the IPv4 range (addresses are compared as IPv4). */
function parseRange(text: string): Range {
  if (!text.includes('/')) {
    const address = parseAddress(text);
    if (!address) throw new Error('not an address');
    return [address, address.kind() === 'ipv4' ? 32 : 128];
  }
  const [address, bits] = ipaddr.parseCIDR(text);
  if (address.kind() === 'ipv6' && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  return [address, bits];
}

/**
 * What per-client rate limits count under: the client key, with an IPv6 address widened to its
 * /64 (one subscriber network: a client can pick any address in it, so per-address buckets would
 * not limit it). IPv4 addresses and non-addresses stay as they are.
 */
export function rateLimitKey(client: string): string {
  if (!ipaddr.IPv6.isValid(client) || client.includes('.')) return client;
  const parts = ipaddr.IPv6.parse(client).parts.slice(0, 4);
  return `${ipaddr.fromByteArray([...parts.flatMap((part) => [part >> 8, part & 0xff]), ...new Array<number>(8).fill(0)]).toString()}/64`;
}
