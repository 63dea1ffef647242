/**
 * Per-principal limits (src/server/access/rate-limiter.ts) on a fake clock: the token bucket's
 * burst, refusal with Retry-After and refill, independent keys, the concurrency cap and its
 * idempotent release, eviction of idle buckets. And the client address used as the key when API
 * keys are off (src/server/access/client-address.ts): X-Forwarded-For only from trusted proxies.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { clientKey, parseTrustedProxies, rateLimitKey } from '../../src/server/access/client-address.js';
import { RateLimiter } from '../../src/server/access/rate-limiter.js';
import { FakeClock } from '../helpers/fake-clock.js';

/** The ApiError `fn` throws, checked to be `rate_limited`. */
function rateLimited(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
    assert.equal(error.code, 'rate_limited');
    assert.equal(error.httpStatus, 429);
    return error;
  }
  assert.fail('expected a rate_limited error');
}

function setup(idleEvictMs?: number): { clock: FakeClock; limiter: RateLimiter } {
  const clock = new FakeClock(1_000_000);
  return { clock, limiter: new RateLimiter({ clock, idleEvictMs }) };
}

describe('RateLimiter: token bucket', () => {
  it('admits a burst, then refuses with Retry-After until the next token', async () => {
    const { clock, limiter } = setup();
    const limits = { requestsPerSecond: 0.5, burst: 3 };
    for (let i = 0; i < 3; i++) limiter.acquire('team-a', limits)();
    const refused = rateLimited(() => limiter.acquire('team-a', limits));
    assert.equal(refused.retryAfterSeconds, 2, 'one token takes 2 s at 0.5 per second');
    assert.match(refused.message, /rate limit exceeded: 0\.5 requests per second \(burst 3\)/);
    await clock.advance(500);
    assert.equal(rateLimited(() => limiter.acquire('team-a', limits)).retryAfterSeconds, 2, '1.5 s left, rounded up');
    await clock.advance(1000);
    assert.equal(rateLimited(() => limiter.acquire('team-a', limits)).retryAfterSeconds, 1, '0.5 s left, rounded up');
    await clock.advance(500);
    limiter.acquire('team-a', limits)();
    rateLimited(() => limiter.acquire('team-a', limits));
  });

  it('says at least 1 s even when the next token is a few milliseconds away', async () => {
    const { clock, limiter } = setup();
    const limits = { requestsPerSecond: 100, burst: 1 };
    limiter.acquire('k', limits)();
    await clock.advance(9);
    assert.equal(rateLimited(() => limiter.acquire('k', limits)).retryAfterSeconds, 1);
    await clock.advance(1);
    limiter.acquire('k', limits)();
  });

  it('refills at the rate up to the burst, never beyond', async () => {
    const { clock, limiter } = setup();
    const limits = { requestsPerSecond: 2, burst: 4 };
    for (let i = 0; i < 4; i++) limiter.acquire('k', limits)();
    rateLimited(() => limiter.acquire('k', limits));
    await clock.advance(1000);
    limiter.acquire('k', limits)();
    limiter.acquire('k', limits)();
    rateLimited(() => limiter.acquire('k', limits));
    await clock.advance(3_600_000);
    for (let i = 0; i < 4; i++) limiter.acquire('k', limits)();
    rateLimited(() => limiter.acquire('k', limits));
  });

  it('has a burst of max(1, rate) when none is given', async () => {
    const { clock, limiter } = setup();
    for (let i = 0; i < 5; i++) limiter.acquire('fast', { requestsPerSecond: 5 })();
    rateLimited(() => limiter.acquire('fast', { requestsPerSecond: 5 }));
    limiter.acquire('slow', { requestsPerSecond: 0.1 })();
    assert.equal(rateLimited(() => limiter.acquire('slow', { requestsPerSecond: 0.1 })).retryAfterSeconds, 10);
    await clock.advance(10_000);
    limiter.acquire('slow', { requestsPerSecond: 0.1 })();
  });

  it('keeps one bucket per key', () => {
    const { limiter } = setup();
    const limits = { requestsPerSecond: 1, burst: 2 };
    limiter.acquire('a', limits)();
    limiter.acquire('a', limits)();
    rateLimited(() => limiter.acquire('a', limits));
    limiter.acquire('b', limits)();
    limiter.acquire('b', limits)();
    rateLimited(() => limiter.acquire('b', limits));
    assert.equal(limiter.size, 2);
  });

  it('treats unset limits as unlimited, keeping no state', () => {
    const { limiter } = setup();
    for (let i = 0; i < 1000; i++) limiter.acquire('free', {});
    assert.equal(limiter.size, 0);
  });

  it('applies changed limits (a reloaded key file) from the next call', async () => {
    const { clock, limiter } = setup();
    limiter.acquire('k', { maxConcurrent: 5 })();
    // A rate added later starts with a full bucket, like a new key.
    limiter.acquire('k', { requestsPerSecond: 1, burst: 2 })();
    limiter.acquire('k', { requestsPerSecond: 1, burst: 2 })();
    rateLimited(() => limiter.acquire('k', { requestsPerSecond: 1, burst: 2 }));
    await clock.advance(20); // 0.02 tokens at the old rate, both back at the new one
    for (let i = 0; i < 2; i++) limiter.acquire('k', { requestsPerSecond: 100, burst: 2 })();
    rateLimited(() => limiter.acquire('k', { requestsPerSecond: 100, burst: 2 }));
  });

  it('refuses non-positive limits as a configuration bug', () => {
    const { limiter } = setup();
    assert.throws(() => limiter.acquire('k', { requestsPerSecond: 0 }), RangeError);
    assert.throws(() => limiter.acquire('k', { requestsPerSecond: 1, burst: Number.NaN }), RangeError);
    assert.throws(() => limiter.acquire('k', { maxConcurrent: -1 }), RangeError);
  });
});

describe('RateLimiter: concurrency cap', () => {
  it('refuses past the cap with its own message and Retry-After 1, until a release', () => {
    const { limiter } = setup();
    const limits = { maxConcurrent: 2 };
    const first = limiter.acquire('k', limits);
    const second = limiter.acquire('k', limits);
    const refused = rateLimited(() => limiter.acquire('k', limits));
    assert.equal(refused.retryAfterSeconds, 1);
    assert.match(refused.message, /too many concurrent requests: at most 2 in flight/);
    limiter.acquire('other', limits)();
    first();
    const third = limiter.acquire('k', limits);
    rateLimited(() => limiter.acquire('k', limits));
    second();
    third();
    limiter.acquire('k', limits)();
  });

  it('counts a release once, however often it is called', () => {
    const { limiter } = setup();
    const limits = { maxConcurrent: 1 };
    const release = limiter.acquire('k', limits);
    release();
    release();
    release();
    const held = limiter.acquire('k', limits);
    rateLimited(() => limiter.acquire('k', limits));
    release();
    rateLimited(() => limiter.acquire('k', limits));
    held();
  });

  it('spends no token on a request the cap refuses', async () => {
    const { clock, limiter } = setup();
    const limits = { requestsPerSecond: 1, burst: 2, maxConcurrent: 1 };
    const held = limiter.acquire('k', limits);
    for (let i = 0; i < 5; i++) assert.match(rateLimited(() => limiter.acquire('k', limits)).message, /concurrent/);
    held();
    limiter.acquire('k', limits)();
    const refused = rateLimited(() => limiter.acquire('k', limits));
    assert.match(refused.message, /rate limit exceeded/, 'with the cap free, the rate is what refuses');
    await clock.advance(1000);
    limiter.acquire('k', limits)();
  });
});

describe('RateLimiter: eviction', () => {
  it('drops buckets idle for idleEvictMs once they are full again', async () => {
    const { clock, limiter } = setup(10_000);
    const limits = { requestsPerSecond: 1, burst: 2 };
    for (let i = 0; i < 100; i++) limiter.acquire(`client-${i}`, limits)();
    assert.equal(limiter.size, 100);
    await clock.advance(10_000);
    limiter.acquire('newcomer', limits)();
    assert.equal(limiter.size, 1, 'the idle buckets went when the next request came');
  });

  it('keeps buckets with requests in flight, recently used ones, and ones still refilling', async () => {
    const { clock, limiter } = setup(10_000);
    const busy = limiter.acquire('busy', { maxConcurrent: 1 });
    limiter.acquire('drained', { requestsPerSecond: 0.01, burst: 1 })(); // 100 s to refill
    limiter.acquire('recent', { requestsPerSecond: 1 })();
    await clock.advance(9_000);
    limiter.acquire('recent', { requestsPerSecond: 1 })();
    await clock.advance(6_000);
    limiter.acquire('trigger', {}); // a sweep: none of the three may go
    assert.equal(limiter.size, 3);
    rateLimited(() => limiter.acquire('busy', { maxConcurrent: 1 }));
    rateLimited(() => limiter.acquire('drained', { requestsPerSecond: 0.01, burst: 1 }));

    busy();
    await clock.advance(100_000);
    limiter.acquire('trigger', {});
    assert.equal(limiter.size, 0, 'released, refilled and idle: all dropped');
    limiter.acquire('drained', { requestsPerSecond: 0.01, burst: 1 })();
  });

  it('counts idleness from the release, not the acquire', async () => {
    const { clock, limiter } = setup(10_000);
    const release = limiter.acquire('slow-request', { maxConcurrent: 1 });
    await clock.advance(60_000);
    release();
    await clock.advance(6_000);
    limiter.acquire('trigger', {});
    assert.equal(limiter.size, 1);
    await clock.advance(6_000);
    limiter.acquire('trigger', {});
    assert.equal(limiter.size, 0);
  });

  it('owns no timers', () => {
    const { clock, limiter } = setup(10);
    limiter.acquire('k', { requestsPerSecond: 1, maxConcurrent: 1 })();
    assert.equal(clock.pendingTimers, 0);
  });
});

describe('clientKey', () => {
  const proxies = ['10.0.0.0/8', 'fd00::/8'];

  it('is the peer address without a proxy, normalised', () => {
    assert.equal(clientKey('203.0.113.7', undefined, proxies), '203.0.113.7');
    assert.equal(clientKey('203.0.113.7', undefined, []), '203.0.113.7');
    assert.equal(clientKey('::ffff:203.0.113.7', undefined, []), '203.0.113.7');
    assert.equal(clientKey('2001:DB8:0:0:0:0:0:1', undefined, []), '2001:db8::1');
    assert.equal(clientKey(undefined, '198.51.100.1', proxies), 'unknown');
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', () => {
    assert.equal(clientKey('203.0.113.7', '198.51.100.1', proxies), '203.0.113.7');
    assert.equal(clientKey('203.0.113.7', '198.51.100.1', []), '203.0.113.7');
    assert.equal(clientKey('11.0.0.1', '198.51.100.1', proxies), '11.0.0.1');
  });

  it('takes the right-most untrusted address behind a chain of trusted proxies', () => {
    assert.equal(clientKey('10.0.0.2', '198.51.100.1', proxies), '198.51.100.1');
    // The client wrote "1.1.1.1" itself; the first proxy appended what it saw, the second its peer.
    assert.equal(clientKey('10.0.0.2', '1.1.1.1, 198.51.100.1, 10.0.0.1', proxies), '198.51.100.1');
    assert.equal(clientKey('10.0.0.2', '1.1.1.1,198.51.100.1,10.0.0.1', proxies), '198.51.100.1');
    assert.equal(clientKey('fd00::2', '2001:db8::7, fd00::1', proxies), '2001:db8::7');
    // Every hop a trusted proxy: the left-most is as far as the chain goes.
    assert.equal(clientKey('10.0.0.2', '10.0.0.9, 10.0.0.1', proxies), '10.0.0.9');
  });

  it('normalises IPv4-mapped IPv6 in the peer, the header and the proxy list', () => {
    assert.equal(clientKey('::ffff:10.0.0.2', '::ffff:198.51.100.1', proxies), '198.51.100.1');
    assert.equal(clientKey('10.0.0.2', '::ffff:198.51.100.1, ::FFFF:10.0.0.1', proxies), '198.51.100.1');
    assert.equal(clientKey('::ffff:10.0.0.2', '198.51.100.1', ['::ffff:10.0.0.0/104']), '198.51.100.1');
  });

  it('reads entries with ports, as some proxies write them', () => {
    assert.equal(clientKey('10.0.0.2', '198.51.100.1:5678', proxies), '198.51.100.1');
    assert.equal(clientKey('10.0.0.2', '[2001:db8::7]:443', proxies), '2001:db8::7');
    assert.equal(clientKey('10.0.0.2', '[2001:db8::7]', proxies), '2001:db8::7');
  });

  it('stops at garbage in the header, at the last proxy it could believe', () => {
    assert.equal(clientKey('10.0.0.2', 'not-an-address', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', '198.51.100.1, garbage, 10.0.0.1', proxies), '10.0.0.1');
    assert.equal(clientKey('10.0.0.2', '', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', ' , ', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', 'unknown', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', '198.51.100.1,', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', '127.1', proxies), '10.0.0.2', 'no short IPv4 forms');
    assert.equal(clientKey('10.0.0.2', '2130706433', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', '999.1.1.1', proxies), '10.0.0.2');
    assert.equal(clientKey('10.0.0.2', `${'1.2.3.4,'.repeat(2000)}x`, proxies), '10.0.0.2');
    // A spoofed header with garbage, from an untrusted peer, is not even read.
    assert.equal(clientKey('203.0.113.7', '\u0000<script>', proxies), '203.0.113.7');
  });

  it('takes single addresses and named ranges as trusted proxies, and names a bad entry', () => {
    assert.equal(clientKey('127.0.0.1', '198.51.100.1', ['loopback']), '198.51.100.1');
    assert.equal(clientKey('::1', '198.51.100.1', ['loopback']), '198.51.100.1');
    assert.equal(clientKey('192.168.1.5', '198.51.100.1', ['uniquelocal']), '198.51.100.1');
    assert.equal(clientKey('192.0.2.10', '198.51.100.1', ['192.0.2.10']), '198.51.100.1');
    assert.equal(clientKey('192.0.2.11', '198.51.100.1', ['192.0.2.10']), '192.0.2.11');
    assert.throws(() => parseTrustedProxies(['10.0.0.0/8', 'proxy.internal']), /trusted proxy "proxy\.internal" is not an IP address, a CIDR range or one of loopback/);
    assert.throws(() => parseTrustedProxies(['10.0.0.0/33']), /trusted proxy "10\.0\.0\.0\/33"/);
  });
});

describe('rateLimitKey', () => {
  it('widens an IPv6 client to its /64 and leaves IPv4 and non-addresses alone', () => {
    assert.equal(rateLimitKey('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
    assert.equal(rateLimitKey('2001:db8:1:2::9'), rateLimitKey('2001:db8:1:2:ffff::1'), 'one subscriber network, one bucket');
    assert.notEqual(rateLimitKey('2001:db8:1:2::9'), rateLimitKey('2001:db8:1:3::9'));
    assert.equal(rateLimitKey('203.0.113.7'), '203.0.113.7');
    assert.equal(rateLimitKey('unknown'), 'unknown');
  });
});
