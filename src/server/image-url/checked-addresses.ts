/**
 * The addresses a URL's host may be reached at: a literal IP host as itself, a name resolved
 * ONCE, and every address checked; one refused address refuses the URL (a DNS answer mixing a
 * public and a private address is how a rebinding attacker gets a foot in). Refusals are
 * `url_not_allowed`, a name that does not resolve `invalid_image` (docs/architecture.md, "Errors").
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { ApiError } from '../../errors.js';
import { type AddressPolicy, parseAddress } from './address-policy.js';
import { raceAbort } from './fetch-deadline.js';
import type { Resolve, ResolvedAddress } from './options.js';
import { systemErrorCode } from './system-error-code.js';

export const resolveWithDns: Resolve = async (host) => {
  const answers = await lookup(host, { all: true, verbatim: true });
  return answers.map(({ address, family }) => ({ address, family: family === 6 ? 6 : 4 }));
};

export async function checkedAddresses(url: URL, resolve: Resolve, policy: AddressPolicy, signal: AbortSignal): Promise<ResolvedAddress[]> {
  const host = url.hostname;
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  const literalFamily = isIP(literal);
  if (literalFamily !== 0) {
    const verdict = policy.check(literal);
    if (!verdict.allowed) throw new ApiError('url_not_allowed', `image URL host ${host} is not allowed: its address is in a refused class (${verdict.addressClass})`);
    return [{ address: literal, family: literalFamily === 6 ? 6 : 4 }];
  }
  let answers: ResolvedAddress[];
  try {
    answers = await raceAbort(resolve(host), signal);
  } catch (error) {
    if (signal.aborted) throw error;
    throw new ApiError('invalid_image', `image URL host ${host} does not resolve${systemErrorCode(error)}`, { cause: error });
  }
  if (answers.length === 0) throw new ApiError('invalid_image', `image URL host ${host} does not resolve (no addresses)`);
  return answers.map(({ address }) => {
    const verdict = policy.check(address);
    // The address itself stays out of the message: it may describe the operator's network.
    if (!verdict.allowed) throw new ApiError('url_not_allowed', `image URL host ${host} is not allowed: it resolves to an address in a refused class (${verdict.addressClass})`);
    // The family as the address is written, not as the resolver claims it.
    return { address, family: parseAddress(address)!.kind() === 'ipv6' ? 6 : 4 };
  });
}
