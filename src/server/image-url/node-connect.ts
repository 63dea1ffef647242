/**
 * The default connection: node:http or node:https to the address the policy checked, never to a
 * fresh DNS answer (that second lookup is how DNS rebinding swaps a checked public address for
 * a private one). The host name still travels where the protocol needs it: the Host header and
 * TLS SNI and certificate checks.
 */
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import type { Connect } from './options.js';

/** A `lookup` that answers every question with the one checked address (also Happy Eyeballs' `all: true`). */
function pinnedLookup(address: string, family: 4 | 6): LookupFunction {
  return (_host, options, callback) => {
    if (options.all) (callback as (error: null, addresses: Array<{ address: string; family: number }>) => void)(null, [{ address, family }]);
    else callback(null, address, family);
  };
}

export const connectWithNode: Connect = ({ url, address, family, signal }) =>
  new Promise((resolve, reject) => {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const client = url.protocol === 'https:' ? https : http;
    const request = client.request({
      protocol: url.protocol,
      host,
      port: url.port || undefined,
      path: `${url.pathname}${url.search}`,
      method: 'GET',
      headers: { host: url.host, accept: 'image/*', 'accept-encoding': 'identity', 'user-agent': 'multimodal-inference-server' },
      lookup: pinnedLookup(address, family),
      // SNI carries names only, without a trailing dot (RFC 6066); a literal IP host is checked against the certificate's IP entries.
      servername: isIP(host) ? undefined : host.replace(/\.+$/, ''),
      // No pooling: a socket lives for one response and closes with it (destroy() on abort or refusal).
      agent: false,
      signal,
    });
    request.once('response', (response) => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: response }));
    request.once('error', reject);
    request.end();
  });
