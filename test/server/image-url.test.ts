/**
 * Image URLs fetched without becoming an SSRF proxy (issue #31; errors from the one table,
 * docs/architecture.md, "Errors"). Refused cases never send a packet: DNS and the connection are
 * injected, and the injected `connect` fails the test if it is called. The allowed path runs
 * against a real HTTP server on 127.0.0.1, let in by `allowAddresses`.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { AddressPolicy } from '../../src/server/image-url/address-policy.js';
import { type Connect, ImageUrlFetcher, type ImageUrlOptions, isImageUrl, type Resolve } from '../../src/server/image-url/index.js';
import { sharedImage } from '../helpers/shared-dir.js';

const PUBLIC_V4 = '93.184.215.14';
const PUBLIC_V6 = '2606:2800:21f:cb07:6820:80da:af6b:8b2c';
const FAKE_PNG = Buffer.from('89504e470d0a1a0a0000000d49484452', 'hex');

/** A resolver answering from a table (unknown names: ENOTFOUND), recording every question. */
function fakeDns(answers: Record<string, string[]>): { resolve: Resolve; asked: string[] } {
  const asked: string[] = [];
  const resolve: Resolve = async (host) => {
    asked.push(host);
    const addresses = answers[host];
    if (!addresses) throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };
  return { resolve, asked };
}

/** A connect for refused URLs: records the call and fails the test. */
function forbiddenConnect(): { connect: Connect; calls: string[] } {
  const calls: string[] = [];
  const connect: Connect = async ({ address }) => {
    calls.push(address);
    assert.fail(`connect was called for ${address}`);
  };
  return { connect, calls };
}

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: Uint8Array[];
}

/** A connect answering from a script, no network; records each URL and the address it was handed. */
function scriptedConnect(reply: (url: URL) => Reply = () => ({ status: 200, headers: { 'content-type': 'image/png' }, body: [FAKE_PNG] })) {
  const calls: Array<{ url: string; address: string }> = [];
  const connect: Connect = async ({ url, address }) => {
    calls.push({ url: url.href, address });
    const { status, headers = {}, body = [] } = reply(url);
    return { status, headers, body: Readable.from(body) };
  };
  return { connect, calls };
}

function fetcher(options: Partial<ImageUrlOptions>): ImageUrlFetcher {
  return new ImageUrlFetcher({ allowHosts: [], denyHosts: [], allowAddresses: [], maxBytes: 1 << 20, timeoutMs: 2000, maxRedirects: 3, ...options });
}

async function rejectsWith(promise: Promise<unknown>, code: string, message?: RegExp): Promise<ApiError> {
  let caught: unknown;
  await assert.rejects(promise, (error) => ((caught = error), true));
  assert.ok(caught instanceof ApiError, `not an ApiError: ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message) assert.match(caught.message, message);
  return caught;
}

/** Asserts the URL is refused as `url_not_allowed` before any connection. */
async function refused(url: string, message: RegExp, options: Partial<ImageUrlOptions> = {}): Promise<ApiError> {
  const { connect, calls } = forbiddenConnect();
  const error = await rejectsWith(fetcher({ resolve: fakeDns({}).resolve, ...options, connect }).fetch(url), 'url_not_allowed', message);
  assert.deepEqual(calls, [], 'no connection for a refused URL');
  return error;
}

const REFUSED_ADDRESSES: Array<[string, RegExp]> = [
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['10.0.0.1', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.254', /private/],
  ['192.168.0.1', /private/],
  ['169.254.169.254', /link-local \(the cloud metadata service\)/],
  ['169.254.0.1', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.254', /carrier-grade NAT/],
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['255.255.255.255', /broadcast/],
  ['240.0.0.1', /reserved/],
  ['198.18.0.1', /benchmarking/],
  ['198.19.255.254', /benchmarking/],
  ['192.0.2.1', /documentation/],
  ['198.51.100.1', /documentation/],
  ['203.0.113.1', /documentation/],
  ['192.0.0.8', /IETF protocol assignments/],
  ['::', /unspecified/],
  ['::1', /loopback/],
  ['fe80::1', /link-local/],
  ['fc00::1', /unique-local/],
  ['fd12:3456::1', /unique-local/],
  ['fd00:ec2::254', /AWS IPv6 metadata/],
  ['fec0::1', /site-local/],
  ['ff02::1', /multicast/],
  ['100::1', /discard-only/],
  ['2001:db8::1', /documentation/],
  ['2001:2::1', /benchmarking/],
  ['::7f00:1', /outside the global unicast/],
  ['::ffff:127.0.0.1', /IPv4-mapped IPv6 embedding loopback/],
  ['::ffff:10.0.0.1', /IPv4-mapped IPv6 embedding private/],
  ['::ffff:169.254.169.254', /IPv4-mapped IPv6 embedding link-local \(the cloud metadata service\)/],
  ['::ffff:0:a00:1', /IPv4-translated IPv6 embedding private/],
  ['64:ff9b::a00:1', /NAT64 \(64:ff9b::\/96\) embedding private/],
  ['64:ff9b::a9fe:a9fe', /NAT64 .* embedding link-local \(the cloud metadata service\)/],
  ['64:ff9b:1::a00:1', /local-use NAT64/],
  ['2002:7f00:1::1', /6to4 \(2002::\/16\) embedding loopback/],
  ['2002:a9fe:a9fe::1', /6to4 .* embedding link-local \(the cloud metadata service\)/],
  ['2001:0:4136:e378:8000:63bf:3fff:fdd2', /Teredo/],
];

describe('image URLs: address classes (nothing is sent)', () => {
  for (const [address, addressClass] of REFUSED_ADDRESSES) {
    const literal = address.includes(':') ? `[${address}]` : address;
    it(`refuses ${address} as a literal host and as a DNS answer: ${addressClass.source}`, async () => {
      const dns = fakeDns({ 'img.test': [address] });
      await refused(`http://${literal}/cat.png`, addressClass, { resolve: dns.resolve });
      assert.deepEqual(dns.asked, [], 'a literal IP host is not looked up');
      const error = await refused('http://img.test/cat.png', addressClass, { resolve: dns.resolve });
      assert.deepEqual(dns.asked, ['img.test']);
      assert.ok(!error.message.includes(address), 'a resolved address stays out of the message');
    });
  }

  it('lets public unicast through, also embedded in IPv4-mapped, NAT64 and 6to4 addresses, and just outside each refused range', () => {
    const policy = new AddressPolicy();
    for (const address of [PUBLIC_V4, PUBLIC_V6, '8.8.8.8', '172.32.0.1', '172.15.255.254', '100.128.0.1', '100.63.255.254', '198.20.0.1', '169.255.0.1', '11.0.0.1', '192.0.3.1', '223.255.255.254', `::ffff:${PUBLIC_V4}`, '64:ff9b::808:808', '2002:808:808::1', '2a00:1450:4001:80b::200e']) {
      assert.deepEqual(policy.check(address), { allowed: true }, address);
    }
    for (const notAnAddress of ['0x7f.1', '127.1', '2130706433', '127.000.000.001', 'localhost', '']) {
      assert.deepEqual(policy.check(notAnAddress), { allowed: false, addressClass: 'not an IP address' }, notAnAddress);
    }
  });

  it('refuses the IPv4 spellings WHATWG URL normalises (decimal, octal, hex, short), without DNS', async () => {
    const dns = fakeDns({});
    for (const url of ['http://2130706433/', 'http://0x7f.1/', 'http://0177.0.0.1/', 'http://127.1/', 'http://0x7f000001/', 'http://017700000001/', 'http://0xa9fea9fe/latest/meta-data/', 'http://0xA.0.0.1/', 'http://[0:0:0:0:0:ffff:7f00:1]/']) {
      await refused(url, /loopback|private|metadata/, { resolve: dns.resolve });
    }
    assert.deepEqual(dns.asked, []);
  });

  it('refuses a DNS answer mixing public and private addresses, whatever the order', async () => {
    for (const answer of [[PUBLIC_V4, '10.0.0.5'], ['127.0.0.1', PUBLIC_V4], [PUBLIC_V6, 'fd00::1'], [PUBLIC_V4, PUBLIC_V6, '::ffff:192.168.1.1']]) {
      await refused('http://img.test/cat.png', /img\.test is not allowed: it resolves to an address in a refused class/, { resolve: fakeDns({ 'img.test': answer }).resolve });
    }
  });

  it('resolves a name once, and connects to the checked address', async () => {
    const dns = fakeDns({ 'img.test': [PUBLIC_V6, PUBLIC_V4] });
    const { connect, calls } = scriptedConnect();
    const bytes = await fetcher({ resolve: dns.resolve, connect }).fetch('http://img.test/cat.png');
    assert.deepEqual(Buffer.from(bytes), FAKE_PNG);
    assert.deepEqual(dns.asked, ['img.test']);
    assert.deepEqual(calls, [{ url: 'http://img.test/cat.png', address: PUBLIC_V6 }]);
  });

  it('lets allowAddresses open a range, and only that range', async () => {
    const options = { allowAddresses: ['10.1.0.0/16', 'fd12::/64'] };
    const policy = new AddressPolicy(options.allowAddresses);
    for (const address of ['10.1.2.3', '::ffff:10.1.2.3', 'fd12::5']) assert.deepEqual(policy.check(address), { allowed: true }, address);
    for (const address of ['10.2.0.1', '127.0.0.1', 'fd12:0:0:1::5', '64:ff9b::a01:203']) assert.equal(policy.check(address).allowed, false, address);
    assert.throws(() => new AddressPolicy(['10.0.0.0/33']), /allowAddresses entry "10\.0\.0\.0\/33"/);
    assert.throws(() => new AddressPolicy(['intranet']), /allowAddresses entry "intranet"/);
  });

  it('says a name that does not resolve is not an image (invalid_image)', async () => {
    const { connect, calls } = forbiddenConnect();
    await rejectsWith(fetcher({ resolve: fakeDns({}).resolve, connect }).fetch('http://nowhere.test/cat.png'), 'invalid_image', /nowhere\.test does not resolve \(ENOTFOUND\)/);
    assert.deepEqual(calls, []);
  });
});

describe('image URLs: scheme, credentials, host lists, ports', () => {
  const dns = fakeDns({ 'img.test': [PUBLIC_V4], 'a.images.test': [PUBLIC_V4], 'xn--bcher-kva.test': [PUBLIC_V4], 'bad.images.test': [PUBLIC_V4] });

  it('tells image URLs from other strings', () => {
    for (const value of ['http://a/b.png', 'HTTPS://a/b.png']) assert.equal(isImageUrl(value), true, value);
    for (const value of ['data:image/png;base64,AAAA', 'iVBORw0KGgo=', 'file:///etc/passwd', 'ftp://a/b.png', 'http:/a']) assert.equal(isImageUrl(value), false, value);
  });

  it('refuses schemes other than http and https', async () => {
    for (const [url, scheme] of [['file:///etc/passwd', 'file'], ['gopher://img.test:70/_x', 'gopher'], ['ftp://img.test/cat.png', 'ftp'], ['data:image/png;base64,AAAA', 'data'], ['ws://img.test/', 'ws']] as const) {
      await refused(url, new RegExp(`scheme "${scheme}" is not allowed`), { resolve: dns.resolve });
    }
    await rejectsWith(fetcher({}).fetch('not a url'), 'invalid_image', /not a valid URL/);
  });

  it('refuses credentials in the URL without echoing them', async () => {
    for (const url of ['http://user:secret@img.test/cat.png', 'http://user@img.test/cat.png', 'http://:secret@img.test/cat.png']) {
      const error = await refused(url, /carries credentials/, { resolve: dns.resolve });
      assert.ok(!error.message.includes('secret') && !error.message.includes('user@'), error.message);
    }
  });

  it('allows ports 80 and 443 only, other ports for hosts named exactly in allowHosts', async () => {
    await refused('http://img.test:8080/cat.png', /port 8080 is not allowed for img\.test/, { resolve: dns.resolve });
    await refused('http://img.test:6379/', /port 6379/, { resolve: dns.resolve, allowHosts: ['*.test'] });
    for (const url of ['http://img.test:443/cat.png', 'https://img.test:80/cat.png', 'https://img.test/cat.png']) {
      await fetcher({ resolve: dns.resolve, connect: scriptedConnect().connect }).fetch(url);
    }
    await fetcher({ resolve: dns.resolve, connect: scriptedConnect().connect, allowHosts: ['img.test'] }).fetch('http://img.test:8080/cat.png');
  });

  it('allows a *.suffix pattern for subdomains only', async () => {
    const options = { resolve: dns.resolve, allowHosts: ['*.images.test'] };
    await fetcher({ ...options, connect: scriptedConnect().connect }).fetch('http://a.images.test/cat.png');
    for (const host of ['images.test', 'evilimages.test', 'a.images.test.evil.test', 'img.test']) {
      await refused(`http://${host}/cat.png`, /is not on the allow list/, options);
    }
  });

  it('lets the deny list beat the allow list, whatever the case and trailing dots', async () => {
    const options = { resolve: dns.resolve, allowHosts: ['*.images.test', 'bad.images.test'], denyHosts: ['BAD.images.test.'] };
    for (const url of ['http://bad.images.test/cat.png', 'http://BAD.Images.TEST./cat.png', 'http://bad.images.test../cat.png']) await refused(url, /is on the deny list/, options);
    await refused('http://db.internal.test/', /deny list/, { resolve: dns.resolve, denyHosts: ['*.internal.test'] });
  });

  it('compares internationalised names as WHATWG URL writes them (punycode)', async () => {
    const { connect, calls } = scriptedConnect();
    await fetcher({ resolve: dns.resolve, connect, allowHosts: ['bücher.test'] }).fetch('http://BÜCHER.test/cat.png');
    assert.equal(calls[0]?.url, 'http://xn--bcher-kva.test/cat.png');
  });

  it('refuses list entries that are not host names, at construction', () => {
    for (const entry of ['http://img.test/', 'user@img.test', 'img.test:8080', '*.*.test', '']) {
      assert.throws(() => fetcher({ allowHosts: [entry] }), /allowHosts entry/, entry);
    }
    assert.throws(() => fetcher({ denyHosts: ['a b'] }), /denyHosts entry/);
  });
});

describe('image URLs: redirects, each target checked again', () => {
  const dns = fakeDns({ 'img.test': [PUBLIC_V4], 'internal.test': ['10.0.0.7'], 'cdn.test': [PUBLIC_V6] });
  const redirectTo = (location: string, status = 302) => scriptedConnect((url): Reply => (url.hostname === 'img.test' ? { status, headers: { location } } : { status: 200, headers: { 'content-type': 'image/png' }, body: [FAKE_PNG] }));

  for (const [location, why] of [
    ['http://127.0.0.1/admin', /loopback/],
    ['http://169.254.169.254/latest/meta-data/', /cloud metadata/],
    ['http://[fd00:ec2::254]/latest/meta-data/', /AWS IPv6 metadata/],
    ['http://internal.test/cat.png', /internal\.test is not allowed: it resolves to an address in a refused class \(private/],
    ['http://2130706433/', /loopback/],
    ['file:///etc/passwd', /scheme "file"/],
    ['gopher://img.test:6379/_FLUSHALL', /scheme "gopher"/],
    ['http://cdn.test:8080/cat.png', /port 8080/],
    ['http://user:pw@cdn.test/cat.png', /credentials/],
  ] as const) {
    it(`refuses a redirect to ${location}`, async () => {
      const { connect, calls } = redirectTo(location);
      await rejectsWith(fetcher({ resolve: dns.resolve, connect }).fetch('http://img.test/cat.png'), 'url_not_allowed', why);
      assert.deepEqual(calls.map((call) => call.url), ['http://img.test/cat.png'], 'only the first URL was connected to');
    });
  }

  it('refuses a redirect to a denied host', async () => {
    const { connect, calls } = redirectTo('https://cdn.test/cat.png');
    await rejectsWith(fetcher({ resolve: dns.resolve, connect, denyHosts: ['cdn.test'] }).fetch('http://img.test/cat.png'), 'url_not_allowed', /deny list/);
    assert.equal(calls.length, 1);
  });

  it('follows 301, 302, 303, 307 and 308, resolving a relative Location against the current URL', async () => {
    for (const status of [301, 302, 303, 307, 308]) {
      const { connect, calls } = scriptedConnect((url): Reply => (url.pathname === '/a/b/cat.png' ? { status, headers: { location: '../c/cat.png?size=2' } } : { status: 200, headers: { 'content-type': 'image/png' }, body: [FAKE_PNG] }));
      assert.deepEqual(Buffer.from(await fetcher({ resolve: dns.resolve, connect }).fetch('http://img.test/a/b/cat.png')), FAKE_PNG);
      assert.deepEqual(calls.map((call) => call.url), ['http://img.test/a/b/cat.png', 'http://img.test/a/c/cat.png?size=2'], String(status));
    }
    const { connect, calls } = redirectTo('https://cdn.test/cat.png');
    await fetcher({ resolve: dns.resolve, connect }).fetch('http://img.test/cat.png');
    assert.deepEqual(calls[1], { url: 'https://cdn.test/cat.png', address: PUBLIC_V6 });
  });

  it('gives up after maxRedirects (invalid_image), and a redirect without Location is no image', async () => {
    const loop = scriptedConnect((url) => ({ status: 302, headers: { location: `/hop${Number(url.pathname.slice(4) || 0) + 1}` } }));
    await rejectsWith(fetcher({ resolve: dns.resolve, connect: loop.connect }).fetch('http://img.test/hop0'), 'invalid_image', /redirected more than 3 times/);
    assert.equal(loop.calls.length, 4, 'the first request and 3 redirects');
    const none = redirectTo('/elsewhere.png');
    await rejectsWith(fetcher({ resolve: dns.resolve, connect: none.connect, maxRedirects: 0 }).fetch('http://img.test/cat.png'), 'invalid_image', /more than 0 times/);
    const missing = scriptedConnect(() => ({ status: 301 }));
    await rejectsWith(fetcher({ resolve: dns.resolve, connect: missing.connect }).fetch('http://img.test/cat.png'), 'invalid_image', /without a Location/);
  });
});

describe('image URLs: responses (scripted, no network)', () => {
  const dns = fakeDns({ 'img.test': [PUBLIC_V4] });
  const fetchReply = (reply: Reply, maxBytes = 1 << 20) => fetcher({ resolve: dns.resolve, connect: scriptedConnect(() => reply).connect, maxBytes }).fetch('http://img.test/cat.png');

  it('wants status 200 and an image/* Content-Type, naming what it got', async () => {
    await rejectsWith(fetchReply({ status: 404, headers: { 'content-type': 'image/png' } }), 'invalid_image', /answered HTTP 404/);
    await rejectsWith(fetchReply({ status: 304 }), 'invalid_image', /HTTP 304/);
    await rejectsWith(fetchReply({ status: 200, headers: { 'content-type': 'text/html; charset=utf-8' } }), 'invalid_image', /Content-Type "text\/html; charset=utf-8", not an image\/\* type/);
    await rejectsWith(fetchReply({ status: 200 }), 'invalid_image', /no Content-Type/);
    await rejectsWith(fetchReply({ status: 200, headers: { 'content-type': 'image/' } }), 'invalid_image', /not an image/);
    assert.deepEqual(Buffer.from(await fetchReply({ status: 200, headers: { 'content-type': 'IMAGE/JPEG; q=1' }, body: [FAKE_PNG] })), FAKE_PNG);
  });

  it('refuses a Content-Length over the limit before reading, and a body that ends short', async () => {
    let read = false;
    const body = { async *[Symbol.asyncIterator]() { read = true; yield FAKE_PNG; }, destroy() {} };
    const connect: Connect = async () => ({ status: 200, headers: { 'content-type': 'image/png', 'content-length': '1001' }, body });
    await rejectsWith(fetcher({ resolve: dns.resolve, connect, maxBytes: 1000 }).fetch('http://img.test/cat.png'), 'payload_too_large', /announces 1001 bytes, over the limit of 1000/);
    assert.equal(read, false);
    await rejectsWith(fetchReply({ status: 200, headers: { 'content-type': 'image/png', 'content-length': '100' }, body: [FAKE_PNG] }), 'invalid_image', /ended after 16 of its 100 bytes/);
  });

  it('leaves no timer behind', async () => {
    const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === 'Timeout').length;
    const before = timers();
    await fetchReply({ status: 200, headers: { 'content-type': 'image/png' }, body: [FAKE_PNG] });
    await rejectsWith(fetchReply({ status: 500 }), 'invalid_image');
    assert.equal(timers(), before);
  });
});

/** A real HTTP server on 127.0.0.1 that counts connections opened and closed. */
async function startImageServer(photo: Buffer) {
  let opened = 0;
  let closed = 0;
  const hostHeaders: string[] = [];
  const sockets = new Set<Socket>();
  const server = http.createServer((req, res) => {
    hostHeaders.push(req.headers.host ?? '');
    const png = (extra: Record<string, string | number> = {}) => res.writeHead(200, { 'content-type': 'image/png', ...extra });
    switch (req.url) {
      case '/chelsea.png':
        return void (png({ 'content-length': photo.length }), res.end(photo));
      case '/redirect':
        return void (res.writeHead(302, { location: '/chelsea.png' }), res.end());
      case '/page':
        return void (res.writeHead(200, { 'content-type': 'text/html' }), res.end('<p>not an image</p>'));
      case '/declares-huge':
        // Headers only, then nothing: a fetch that waited for the body would time out instead.
        return void (png({ 'content-length': 10 * photo.length }), res.flushHeaders());
      case '/endless': {
        png();
        const chunk = Buffer.alloc(16 * 1024, 7);
        const pump = (): void => {
          while (!res.destroyed && res.write(chunk));
          if (!res.destroyed) res.once('drain', pump);
        };
        return pump();
      }
      case '/stall-body':
        return void (png({ 'content-length': 1000 }), res.write(FAKE_PNG));
      case '/stall':
      default:
        return; // never answers
    }
  });
  server.on('connection', (socket) => {
    opened++;
    sockets.add(socket);
    socket.once('close', () => (closed++, sockets.delete(socket)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    hostHeaders,
    url: (path: string) => `http://127.0.0.1:${port}${path}`,
    connections: () => ({ opened, closed }),
    /** Resolves once every connection the server saw is closed (fails after `ms`). */
    async allClosed(ms = 2000): Promise<void> {
      const until = Date.now() + ms;
      while (closed < opened) {
        if (Date.now() > until) assert.fail(`${opened - closed} connection(s) still open`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    async close(): Promise<void> {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('image URLs: a real server on 127.0.0.1', () => {
  let photo: Buffer;
  let server: Awaited<ReturnType<typeof startImageServer>>;
  const local = (options: Partial<ImageUrlOptions> = {}) => fetcher({ allowHosts: ['127.0.0.1'], allowAddresses: ['127.0.0.1/32'], ...options });

  before(async () => {
    photo = await readFile(sharedImage('chelsea.png'));
    server = await startImageServer(photo);
  });
  after(() => server.close());

  it('fetches a real PNG, byte for byte', async () => {
    assert.deepEqual(Buffer.from(await local().fetch(server.url('/chelsea.png'))), photo);
    await server.allClosed();
  });

  it('refuses the same server without allowAddresses: it never sees a connection', async () => {
    const before = server.connections().opened;
    await rejectsWith(fetcher({ allowHosts: ['127.0.0.1'] }).fetch(server.url('/chelsea.png')), 'url_not_allowed', /host 127\.0\.0\.1 is not allowed: its address is in a refused class \(loopback\)/);
    await rejectsWith(local({ allowHosts: [] }).fetch(server.url('/chelsea.png')), 'url_not_allowed', /port \d+ is not allowed/);
    assert.equal(server.connections().opened, before);
  });

  it('connects a name to its checked address without a second lookup, Host header the URL host', async () => {
    const dns = fakeDns({ 'images.test': ['127.0.0.1'] });
    const fetched = await local({ allowHosts: ['images.test'], resolve: dns.resolve }).fetch(`http://images.test:${server.port}/chelsea.png`);
    assert.deepEqual(Buffer.from(fetched), photo);
    assert.equal(server.hostHeaders.at(-1), `images.test:${server.port}`);
    assert.deepEqual(dns.asked, ['images.test']);
  });

  it('follows a redirect to another path', async () => {
    assert.deepEqual(Buffer.from(await local().fetch(server.url('/redirect'))), photo);
    await server.allClosed();
  });

  it('refuses a page that is not an image', async () => {
    await rejectsWith(local().fetch(server.url('/page')), 'invalid_image', /Content-Type "text\/html", not an image/);
    await server.allClosed();
  });

  it('refuses a Content-Length over the limit at once, without waiting for the body', async () => {
    const started = Date.now();
    await rejectsWith(local({ timeoutMs: 3000 }).fetch(server.url('/declares-huge')), 'payload_too_large', /announces/);
    assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
    await server.allClosed();
  });

  it('stops a chunked body that streams past the limit, and closes the connection', async () => {
    await rejectsWith(local({ maxBytes: 100_000 }).fetch(server.url('/endless')), 'payload_too_large', /more than the limit of 100000 bytes/);
    await server.allClosed();
  });

  it('times out a server that stalls (deadline_exceeded) within the time limit, and closes the socket', async () => {
    for (const path of ['/stall', '/stall-body']) {
      const started = Date.now();
      await rejectsWith(local({ timeoutMs: 300 }).fetch(server.url(path)), 'deadline_exceeded', /longer than 300 ms/);
      const took = Date.now() - started;
      assert.ok(took >= 290 && took < 1000, `${path}: took ${took} ms`);
      await server.allClosed();
    }
  });

  it("stops when the caller's signal aborts (cancelled, or the caller's own ApiError), and closes the socket", async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 100);
    await rejectsWith(local().fetch(server.url('/stall'), controller.signal), 'cancelled');
    await server.allClosed();
    const withDeadline = new AbortController();
    setTimeout(() => withDeadline.abort(new ApiError('deadline_exceeded', 'the request deadline passed')), 100);
    await rejectsWith(local().fetch(server.url('/stall-body'), withDeadline.signal), 'deadline_exceeded', /request deadline passed/);
    await server.allClosed();
    const { connect, calls } = forbiddenConnect();
    await rejectsWith(local({ connect }).fetch(server.url('/chelsea.png'), AbortSignal.abort()), 'cancelled');
    assert.deepEqual(calls, []);
  });

  it('says a refused connection is no image (invalid_image)', async () => {
    const closedServer = http.createServer();
    await new Promise<void>((resolve) => closedServer.listen(0, '127.0.0.1', resolve));
    const port = (closedServer.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closedServer.close(() => resolve()));
    await rejectsWith(local().fetch(`http://127.0.0.1:${port}/chelsea.png`), 'invalid_image', /could not fetch the image URL from 127\.0\.0\.1 \(ECONNREFUSED\)/);
  });
});
