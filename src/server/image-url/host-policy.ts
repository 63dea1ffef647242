/**
 * The operator's host allow and deny lists, checked on the URL's host name. Names compare as
 * WHATWG URL writes them (lower case, IDN as punycode, IPv4 in dotted decimal, IPv6 bracketed),
 * trailing dots stripped, so `Images.Example.COM.` and `images.example.com` are one host.
 */
import { isIPv6 } from 'node:net';

export type HostVerdict =
  | { allowed: true; /** Matched an exact (not wildcard) allow-list entry: lifts the port restriction. */ named: boolean }
  | { allowed: false; rule: string };

interface HostPattern {
  /** `*.example.com` matches the subdomains of `example.com`, not `example.com` itself. */
  wildcard: boolean;
  name: string;
}

/** A host name the way WHATWG URL writes an http URL's host, without trailing dots; undefined when it is not a host. */
export function canonicalHost(name: string): string | undefined {
  const bare = name.trim();
  // Anything that would make `http://${bare}/` mean more than a host (a path, userinfo, a port).
  if (bare === '' || /[/\\?#@\s]/.test(bare)) return undefined;
  const wrapped = isIPv6(bare) ? `[${bare}]` : bare;
  if (!isIPv6(bare) && !wrapped.startsWith('[') && wrapped.includes(':')) return undefined;
  try {
    return stripTrailingDots(new URL(`http://${wrapped}/`).hostname);
  } catch {
    return undefined;
  }
}

function stripTrailingDots(host: string): string {
  return host.replace(/\.+$/, '');
}

function parsePattern(list: string, entry: string): HostPattern {
  const wildcard = entry.trim().startsWith('*.');
  const name = canonicalHost(wildcard ? entry.trim().slice(2) : entry);
  if (!name || name.includes('*')) throw new Error(`image URL ${list} entry "${entry}" is not a host name or a *.suffix pattern`);
  return { wildcard, name };
}

function matches(pattern: HostPattern, host: string): boolean {
  return pattern.wildcard ? host.endsWith(`.${pattern.name}`) : host === pattern.name;
}

export class HostPolicy {
  private readonly allow: HostPattern[];
  private readonly deny: HostPattern[];

  /** Throws naming an entry that is not a host or a `*.suffix` pattern. */
  constructor(allowHosts: readonly string[], denyHosts: readonly string[]) {
    this.allow = allowHosts.map((entry) => parsePattern('allowHosts', entry));
    this.deny = denyHosts.map((entry) => parsePattern('denyHosts', entry));
  }

  /** The deny list first (it beats the allow list), then the allow list (empty: every host). `hostname` as URL gives it. */
  check(hostname: string): HostVerdict {
    const host = stripTrailingDots(hostname.toLowerCase());
    if (this.deny.some((pattern) => matches(pattern, host))) return { allowed: false, rule: 'is on the deny list' };
    if (this.allow.length === 0) return { allowed: true, named: false };
    const match = this.allow.filter((pattern) => matches(pattern, host));
    if (match.length === 0) return { allowed: false, rule: 'is not on the allow list' };
    return { allowed: true, named: match.some((pattern) => !pattern.wildcard) };
  }
}
