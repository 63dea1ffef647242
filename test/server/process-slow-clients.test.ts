/**
 * Slow and oversized clients against the real server process: slow heads and bodies get Node's
 * 408 in our JSON shape within the configured time; one client's stalled uploads cannot take
 * every slot; Node's own 431 is JSON too. Every address is loopback.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { assertJsonError, classifyBody, httpInFlight, metricsText, post, postHead, rawClient, requestDoneLines, sleep, start, stop, waitUntil, withTimeout, type RawClient, type Started } from '../helpers/process-clients.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';

describe('the server process: slow and oversized clients', () => {
  it('answers a head that stalls 408 JSON and closes the connection within ~3 s', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_HEADERS_TIMEOUT_MS: '1000' });
      const { server } = started;
      const slow = rawClient(server.httpPort, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
      clients.push(slow);
      const outcome = await withTimeout(slow.answer, 10_000, 'an answer to the stalled head');
      const closedAfter = await withTimeout(slow.closed, 10_000, 'the server to close the connection');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 408, JSON.stringify(outcome.response));
      assert.match(outcome.response!.headers['content-type'] ?? '', /^application\/json/);
      assertJsonError(outcome.response!.body, 'request_timeout', 'stalled head');
      assert.ok(closedAfter < 3000, `closed after ${Math.round(closedAfter)} ms (headers timeout 1000 ms)`);
      assert.ok(closedAfter >= 900, `closed after ${Math.round(closedAfter)} ms: before the headers timeout`);
      // The server is fine afterwards.
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it('answers a body that stalls 408 JSON within ~4 s and logs it as request_timeout', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_BODY_TIMEOUT_MS: '2000' });
      const { server } = started;
      await withTimeout(server.ready(), 30_000, 'the model to be ready');
      const slow = rawClient(
        server.httpPort,
        postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': 'slow-body' }) + '0123456789',
      );
      clients.push(slow);
      const outcome = await withTimeout(slow.answer, 15_000, 'an answer to the stalled body');
      const closedAfter = await withTimeout(slow.closed, 15_000, 'the server to close the connection');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 408, JSON.stringify(outcome.response));
      assertJsonError(outcome.response!.body, 'request_timeout', 'stalled body');
      assert.ok(closedAfter < 4000, `closed after ${Math.round(closedAfter)} ms (body timeout 2000 ms)`);
      assert.ok(closedAfter >= 1900, `closed after ${Math.round(closedAfter)} ms: before the body timeout`);

      await waitUntil(() => requestDoneLines(server).some((l) => l.request_id === 'slow-body'), 2000, "its 'request done' line");
      const line = requestDoneLines(server).find((l) => l.request_id === 'slow-body')!;
      assert.notEqual(line.status, 200, `log line ${JSON.stringify(line)}`);
      assert.deepEqual([line.status, line.code], [408, 'request_timeout'], `log line ${JSON.stringify(line)}`);
      assert.match(await metricsText(server), /^mms_requests_total\{model="unknown",variant="unknown",task="image-classification",transport="http",code="request_timeout"\} 1$/m);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it("caps one client's requests in flight: its stalled uploads get 429, another loopback address is served", async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], { MMS_MAX_IN_FLIGHT_PER_CLIENT: '4', MMS_MAX_IN_FLIGHT: '100' });
      const { server } = started;
      await withTimeout(server.ready(), 30_000, 'the model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));
      const stalledUpload = (i: number) =>
        rawClient(
          server.httpPort,
          postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': `upload-${i}` }) + '0123456789',
          { localAddress: '127.0.0.1' },
        );
      for (let i = 0; i < 10; i++) clients.push(stalledUpload(i));
      await waitUntil(() => clients.filter((c) => c.answered()).length >= 6, 5000, '6 of the 10 uploads to be refused');
      await sleep(200); // no more answers come: 4 stay admitted
      const refused = clients.filter((c) => c.answered());
      assert.equal(refused.length, 6, '4 admitted, 6 refused');
      for (const client of refused) {
        const { response } = await client.answer;
        assert.equal(response!.status, 429, JSON.stringify(response));
        assert.ok(Number(response!.headers['retry-after']) >= 1, `Retry-After: ${response!.headers['retry-after']}`);
        assertJsonError(response!.body, 'overloaded', 'refused upload');
        assert.match(JSON.parse(response!.body).error.message, /limit per client/);
      }
      assert.equal(httpInFlight(await metricsText(server)), 4);

      // Another client (another loopback address) is served meanwhile.
      const { headers, body } = classifyBody('json', png);
      const other = await post(server.url, headers, body, { localAddress: '127.0.0.2' });
      assert.equal(other.error, undefined, `127.0.0.2 got no answer: ${other.error}`);
      assert.equal(other.status, 200, `127.0.0.2: ${other.status} ${other.body?.slice(0, 300)}`);
      // 127.0.0.1 is still at its cap.
      const again = await post(server.url, headers, body, { localAddress: '127.0.0.1' });
      assert.equal(again.status, 429, `127.0.0.1 over its cap: ${again.status} ${again.body?.slice(0, 300)}`);

      // Once its stalled uploads go away, 127.0.0.1 is served again.
      for (const client of clients) client.socket.destroy();
      await waitUntil(async () => httpInFlight(await metricsText(server)) === 0, 5000, 'the stalled uploads to leave');
      const after = await post(server.url, headers, body, { localAddress: '127.0.0.1' });
      assert.equal(after.status, 200, `127.0.0.1 after its uploads left: ${after.status} ${after.body?.slice(0, 300)}`);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });

  it("answers Node's own 431 (a 20 KB header line) with the JSON body", async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await tinyVitDir()}`], {});
      const { server } = started;
      const big = rawClient(server.httpPort, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(20 * 1024)}\r\n\r\n`);
      clients.push(big);
      const outcome = await withTimeout(big.answer, 10_000, 'an answer to the oversized head');

      assert.equal(outcome.error, undefined, `no complete answer: ${outcome.error}`);
      assert.equal(outcome.response!.status, 431, JSON.stringify(outcome.response));
      assert.match(outcome.response!.headers['content-type'] ?? '', /^application\/json/);
      assertJsonError(outcome.response!.body, 'headers_too_large', 'oversized head');
      await withTimeout(big.closed, 5000, 'the server to close the connection');
      assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });
});
