/**
 * Graceful shutdown against the real server process: SIGTERM under load answers every accepted
 * request (running, queued, still uploading) and exits 0; the drain timeout answers what is left
 * 503. Every address is loopback.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { assertJsonError, classifyBody, gauge, httpInFlight, metricsText, post, postHead, rawClient, requestDoneLines, sleep, start, stop, tryConnect, waitUntil, withTimeout, type BodyKind, type RawClient, type Started } from '../helpers/process-clients.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { slowVitDir } from '../helpers/test-models.js';

describe('the server process: graceful drain on SIGTERM', () => {
  it('answers every accepted request (running, queued, still uploading) and exits 0', async () => {
    let started: Started | undefined;
    const uploads: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await slowVitDir()}`, '--instances', '1', '--max-batch-size', '1'], {
        MMS_DRAIN_TIMEOUT_MS: '60000',
      });
      const { server, closed } = started;
      await withTimeout(server.ready(), 30_000, 'the slow model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));

      // 13 complete requests of the three body kinds, and 3 uploads that stop halfway through the body.
      const kinds: BodyKind[] = ['json', 'multipart', 'raw'];
      const complete = Array.from({ length: 13 }, (_, i) => {
        const { headers, body } = classifyBody(kinds[i % 3]!, png);
        return post(server.url, { ...headers, 'x-request-id': `complete-${i}` }, body);
      });
      const half = Math.floor(png.length / 2);
      for (let i = 0; i < 3; i++) {
        const head = postHead('/v1/classify?top_k=2', { 'Content-Type': 'image/png', 'Content-Length': png.length, 'X-Request-Id': `upload-${i}` });
        uploads.push(rawClient(server.httpPort, Buffer.concat([Buffer.from(head), png.subarray(0, half)])));
      }

      // All 16 admitted, one running and several queued.
      let last = '';
      await waitUntil(
        async () => {
          last = await metricsText(server);
          return httpInFlight(last) === 16 && gauge(last, 'mms_queue_depth', 'model="vit",component="model",variant="fp32"') >= 3;
        },
        20_000,
        '16 requests in flight with at least 3 queued',
      ).catch((error: Error) => {
        throw new Error(`${error.message}; in flight ${httpInFlight(last)}, queued ${gauge(last, 'mms_queue_depth', 'model="vit",component="model",variant="fp32"')}`);
      });
      const queuedAtSigterm = gauge(last, 'mms_queue_depth', 'model="vit",component="model",variant="fp32"');

      const sigtermAt = performance.now();
      server.kill('SIGTERM');
      await waitUntil(() => server.logs.some((l) => l.msg === 'shutting down'), 5000, "the 'shutting down' log line");
      // The listener is closed: a new connection is refused (a few tries: the close is asynchronous).
      let connect = '';
      await waitUntil(
        async () => (connect = await tryConnect(server.httpPort)) === 'ECONNREFUSED',
        1000,
        'new connections to be refused',
      ).catch(() => assert.fail(`a new connection after SIGTERM was not refused: ${connect}`));

      // The uploads finish their bodies ~300 ms after the SIGTERM.
      await sleep(Math.max(0, 300 - (performance.now() - sigtermAt)));
      for (const upload of uploads) upload.socket.write(png.subarray(half));

      const answers = await withTimeout(Promise.all(complete), 45_000, 'the complete requests to be answered');
      const uploadAnswers = await withTimeout(Promise.all(uploads.map((u) => u.answer)), 45_000, 'the uploads to be answered');
      const exit = await withTimeout(server.exited, 30_000, 'the process to exit');
      await withTimeout(closed, 5000, 'the process stdout to close');

      answers.forEach((a, i) => {
        assert.equal(a.error, undefined, `complete-${i} (${kinds[i % 3]}) got no answer: ${a.error}`);
        if (a.status === 503) assertJsonError(a.body, 'not_ready', `complete-${i}`);
        // The drain timeout (60 s) is far longer than the work (16 × ~0.6 s): every one is served.
        assert.equal(a.status, 200, `complete-${i} (${kinds[i % 3]}): ${a.status} ${a.body?.slice(0, 300)}`);
        assert.equal((JSON.parse(a.body!) as { model: string }).model, 'vit');
      });
      uploadAnswers.forEach((a, i) => {
        assert.equal(a.error, undefined, `upload-${i} got no complete answer: ${a.error}`);
        if (a.response!.status === 503) assertJsonError(a.response!.body, 'not_ready', `upload-${i}`);
        assert.equal(a.response!.status, 200, `upload-${i}: ${a.response!.status} ${a.response!.body.slice(0, 300)}`);
        assert.equal((JSON.parse(a.response!.body) as { predictions: unknown[] }).predictions.length, 2);
      });
      assert.deepEqual(exit, { code: 0, signal: null }, 'the process exits 0 after the drain');

      const done = requestDoneLines(server).filter((l) => l.path === '/v1/classify');
      const cancelledOk = done.filter((l) => l.status === 200 && l.code === 'cancelled');
      assert.deepEqual(cancelledOk, [], "no 'request done' line says status 200 with code cancelled");
      assert.equal(done.length, 16, `one 'request done' line per request: ${JSON.stringify(done)}`);
      assert.deepEqual(server.logs.filter((l) => (l.level as number) >= 50), [], 'no error-level log lines');
      for (const line of done) assert.deepEqual([line.status, line.code], [200, 'ok'], `log line ${JSON.stringify(line)}`);
      assert.ok(queuedAtSigterm >= 3);
    } finally {
      for (const upload of uploads) upload.socket.destroy();
      stop(started?.server);
    }
  });

  it('answers a request whose body never finishes 503 at the drain timeout, and exits 0 promptly', async () => {
    let started: Started | undefined;
    const clients: RawClient[] = [];
    try {
      started = await start(['--model-dir', `vit=${await slowVitDir()}`, '--instances', '1', '--max-batch-size', '1'], {
        MMS_DRAIN_TIMEOUT_MS: '500',
      });
      const { server, closed } = started;
      await withTimeout(server.ready(), 30_000, 'the slow model to be ready');
      const png = await readFile(sharedImage('chelsea.png'));

      // A few complete requests (one running, the rest queued) and one upload that stalls for good.
      const complete = Array.from({ length: 4 }, (_, i) => {
        const { headers, body } = classifyBody('json', png);
        return post(server.url, { ...headers, 'x-request-id': `complete-${i}` }, body);
      });
      const stalled = rawClient(
        server.httpPort,
        postHead('/v1/classify', { 'Content-Type': 'image/png', 'Content-Length': 100_000, 'X-Request-Id': 'stalled' }) + '0123456789',
      );
      clients.push(stalled);
      await waitUntil(async () => httpInFlight(await metricsText(server)) === 5, 15_000, '5 requests in flight');

      const sigtermAt = performance.now();
      server.kill('SIGTERM');
      const stalledAnswer = await withTimeout(stalled.answer, 10_000, 'the stalled upload to be answered');
      const answeredAfterMs = performance.now() - sigtermAt;
      const exit = await withTimeout(server.exited, 10_000, 'the process to exit');
      const exitedAfterMs = performance.now() - sigtermAt;
      const answers = await withTimeout(Promise.all(complete), 5000, 'the complete requests to be answered');
      await withTimeout(closed, 5000, 'the process stdout to close');

      assert.equal(stalledAnswer.error, undefined, `the stalled upload got no complete answer: ${stalledAnswer.error}`);
      assert.equal(stalledAnswer.response!.status, 503, `stalled upload: ${JSON.stringify(stalledAnswer.response)}`);
      assertJsonError(stalledAnswer.response!.body, 'not_ready', 'stalled upload');
      assert.ok(answeredAfterMs < 3000, `answered ${Math.round(answeredAfterMs)} ms after SIGTERM (drain timeout 500 ms)`);
      answers.forEach((a, i) => {
        assert.equal(a.error, undefined, `complete-${i} got no answer: ${a.error}`);
        assert.ok(a.status === 200 || a.status === 503, `complete-${i}: ${a.status} ${a.body?.slice(0, 300)}`);
        if (a.status === 503) assertJsonError(a.body, 'not_ready', `complete-${i}`);
      });
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(exitedAfterMs < 5000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM (drain timeout 500 ms)`);
      assert.ok(
        server.logs.some((l) => l.msg === 'drain timed out; answering the rest 503'),
        'the drain timeout is logged',
      );
      const stalledLine = requestDoneLines(server).find((l) => l.request_id === 'stalled');
      assert.deepEqual([stalledLine?.status, stalledLine?.code], [503, 'not_ready'], `log line ${JSON.stringify(stalledLine)}`);
      // A request answered 503 while its batch was still running must not log an error when the
      // batch finishes afterwards (it was answered; there is nothing left to send).
      const errors = server.logs.filter((l) => (l.level as number) >= 50);
      assert.deepEqual(errors, [], `error-level log lines at shutdown (503 answers: ${answers.filter((a) => a.status === 503).length} of 4)`);
    } finally {
      for (const client of clients) client.socket.destroy();
      stop(started?.server);
    }
  });
});
