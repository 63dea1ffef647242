/**
 * Which IP addresses an image URL may reach: public unicast only (OWASP SSRF prevention cheat
 * sheet: deny loopback, private, link-local, metadata and every other special-purpose range).
 * A refusal names the address class; the caller turns it into `url_not_allowed`
 * (docs/architecture.md, "Errors") without echoing the address.
 */
import ipaddr from 'ipaddr.js';

type Address = ipaddr.IPv4 | ipaddr.IPv6;
type Range = [Address, number];

export type AddressVerdict = { allowed: true } | { allowed: false; addressClass: string };

const ALLOWED: AddressVerdict = { allowed: true };
const refused = (addressClass: string): AddressVerdict => ({ allowed: false, addressClass });

/** ipaddr.js's class names, as a refusal says them. Any other non-`unicast` class is named as ipaddr.js names it. */
const CLASS_NAMES: Record<string, string> = {
  unspecified: 'unspecified',
  broadcast: 'broadcast',
  multicast: 'multicast',
  linkLocal: 'link-local',
  loopback: 'loopback',
  carrierGradeNat: 'carrier-grade NAT (100.64.0.0/10)',
  private: 'private (RFC 1918)',
  reserved: 'reserved',
  uniqueLocal: 'unique-local (fc00::/7)',
  deprecatedSiteLocal: 'site-local (fec0::/10)',
  discard: 'discard-only (100::/64)',
  teredo: 'Teredo (2001::/32)',
  benchmarking: 'benchmarking',
  rfc6052: 'local-use NAT64 (64:ff9b:1::/48)',
  amt: 'AMT relay (RFC 7450)',
  as112: 'AS112 (RFC 7534)',
  as112v6: 'AS112 (RFC 7534)',
};

/**
 * Sharper names for parts of ipaddr.js's classes (it files benchmarking and documentation under
 * `reserved`), so the message says which rule refused. Every range here is refused by its
 * ipaddr.js class anyway; the table only names.
 */
const NAMED_RANGES: Array<[string, string]> = [
  ['169.254.169.254/32', 'link-local (the cloud metadata service)'],
  ['fd00:ec2::254/128', 'unique-local (the AWS IPv6 metadata service)'],
  ['198.18.0.0/15', 'benchmarking (198.18.0.0/15)'],
  ['192.0.2.0/24', 'documentation (192.0.2.0/24)'],
  ['198.51.100.0/24', 'documentation (198.51.100.0/24)'],
  ['203.0.113.0/24', 'documentation (203.0.113.0/24)'],
  ['2001:db8::/32', 'documentation (2001:db8::/32)'],
  ['3fff::/20', 'documentation (3fff::/20)'],
  ['192.0.0.0/24', 'IETF protocol assignments (192.0.0.0/24)'],
  ['192.88.99.0/24', '6to4 relay anycast (192.88.99.0/24)'],
];
const NAMED = NAMED_RANGES.map(([cidr, name]) => [ipaddr.parseCIDR(cidr), name] as const);

/** IANA's global unicast block: IPv6 outside it is unallocated or special-purpose (e.g. the deprecated IPv4-compatible ::a.b.c.d). */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/** IPv6 prefixes whose last or middle 32 bits are an IPv4 address that the packet really reaches. */
const NAT64 = ipaddr.parseCIDR('64:ff9b::/96');

/**
 * An address as an address, strictly: IPv4 only in four-part decimal (a resolver never writes
 * `0x7f.1`, and WHATWG URL has already normalised literal hosts), IPv6 in any valid form.
 */
export function parseAddress(text: string): Address | undefined {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return undefined;
}

function inRange(address: Address, [network, bits]: Range): boolean {
  return address.kind() === network.kind() && address.match(network, bits);
}

function ipv4FromParts(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

/** The IPv4 address an IPv6 address carries, where the packet actually goes there, and what carries it. */
function embeddedIPv4(address: ipaddr.IPv6): { ipv4: ipaddr.IPv4; carrier: string; sameHost: boolean } | undefined {
  const parts = address.parts;
  const range = address.range();
  // ::ffff:a.b.c.d is a.b.c.d itself on a dual-stack socket.
  if (range === 'ipv4Mapped') return { ipv4: ipv4FromParts(parts[6]!, parts[7]!), carrier: 'IPv4-mapped IPv6', sameHost: true };
  if (range === 'rfc6145') return { ipv4: ipv4FromParts(parts[6]!, parts[7]!), carrier: 'IPv4-translated IPv6', sameHost: true };
  // Through a NAT64 gateway or a 6to4 relay: a translator reaches the embedded address for us.
  if (inRange(address, NAT64)) return { ipv4: ipv4FromParts(parts[6]!, parts[7]!), carrier: 'NAT64 (64:ff9b::/96)', sameHost: false };
  if (range === '6to4') return { ipv4: ipv4FromParts(parts[1]!, parts[2]!), carrier: '6to4 (2002::/16)', sameHost: false };
  return undefined;
}

function parseAllowedRange(entry: string): Range {
  const text = entry.trim();
  const [base = '', bits] = text.split('/');
  const address = parseAddress(base);
  const prefix = bits === undefined ? undefined : Number(bits);
  const maxBits = address?.kind() === 'ipv4' ? 32 : 128;
  if (!address || (prefix !== undefined && (!/^\d{1,3}$/.test(bits!) || prefix > maxBits))) {
    throw new Error(`image URL allowAddresses entry "${entry}" is not a CIDR range (e.g. 10.1.0.0/16, fd12::/64) or an address`);
  }
  return [address, prefix ?? maxBits];
}

export class AddressPolicy {
  private readonly allowedRanges: Range[];

  /** `allowAddresses`: CIDR ranges (or single addresses) the operator trusts although not public; throws naming a bad entry. */
  constructor(allowAddresses: readonly string[] = []) {
    this.allowedRanges = allowAddresses.map(parseAllowedRange);
  }

  /** Whether the URL may connect to `text` (an address as a resolver or a URL host writes it). */
  check(text: string): AddressVerdict {
    const address = parseAddress(text);
    return address ? this.checkAddress(address) : refused('not an IP address');
  }

  private checkAddress(address: Address): AddressVerdict {
    if (this.allowedRanges.some((range) => inRange(address, range))) return ALLOWED;
    if (address.kind() === 'ipv4') return classify(address);
    const ipv6 = address as ipaddr.IPv6;
    const embedded = embeddedIPv4(ipv6);
    if (embedded) {
      // The operator's ranges speak for the host itself, not for what a translator may reach.
      const verdict = embedded.sameHost ? this.checkAddress(embedded.ipv4) : classify(embedded.ipv4);
      return verdict.allowed ? verdict : refused(`${embedded.carrier} embedding ${verdict.addressClass}`);
    }
    const verdict = classify(ipv6);
    if (!verdict.allowed) return verdict;
    return inRange(ipv6, GLOBAL_UNICAST_V6) ? ALLOWED : refused('reserved (outside the global unicast 2000::/3)');
  }
}

/** Public unicast, or the class that makes it not. */
function classify(address: Address): AddressVerdict {
  const range = address.range();
  const named = NAMED.find(([cidr]) => inRange(address, cidr));
  if (named) return refused(named[1]);
  return range === 'unicast' ? ALLOWED : refused(CLASS_NAMES[range] ?? range);
}
