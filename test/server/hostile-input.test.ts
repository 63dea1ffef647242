/**
 * Inputs a hostile client sends to the classification path (issue: core robustness), each against
 * the real server: small images that would cost seconds of CPU or gigabytes, bodies that lie about
 * their encoding or carry millions of keys, and the answers and logs they must get.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import request from 'supertest';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { capturingLogger } from '../helpers/capture-logger.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { testConfig } from '../helpers/test-server.js';

/** A 1 × `height` RGB PNG: a few KB on the wire. */
const tallPng = (height: number) => sharp({ create: { width: 1, height, channels: 3, background: '#808080' }, limitInputPixels: false }).png().toBuffer();

const quantile = (values: number[], q: number) => [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(q * values.length))]!;

/** GET on a new connection (a kept-alive one can race the server's idle timeout while the test thread is busy). */
function getFresh(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      })
      .on('error', reject);
  });
}

/** Polls /healthz every 10 ms until `work` settles; returns the latencies (ms). */
async function healthLatenciesDuring(url: string, work: Promise<unknown>): Promise<number[]> {
  let done = false;
  void work.finally(() => (done = true));
  const latencies: number[] = [];
  while (!done) {
    const started = performance.now();
    assert.equal(await getFresh(`${url}/healthz`), 200);
    latencies.push(performance.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return latencies;
}

describe('hostile input on the classification path', () => {
  let server: RunningServer;
  let url: string;
  let logs: string[];
  let chelsea: Buffer;

  before(async () => {
    const captured = capturingLogger();
    logs = captured.lines;
    server = await startServer(testConfig(['--model-dir', `vit=${await tinyVitDir()}`]), captured.logger);
    await server.loaded;
    url = `http://127.0.0.1:${server.httpPort}`;
    chelsea = await readFile(sharedImage('chelsea.png'));
    // Steady state: the preprocessing workers have started (under tsx they compile on start).
    await Promise.all(Array.from({ length: 4 }, () => request(server.http).post('/v1/classify').set('Content-Type', 'image/png').send(chelsea).expect(200)));
  });
  after(() => server.close());

  it('a 1×1,000,000 PNG never stalls the event loop: /healthz p99 under 100 ms, the image refused with 413', async () => {
    const tall = await tallPng(1_000_000);
    assert.ok(tall.length < 64_000, `${tall.length} bytes on the wire`);
    const answers = Promise.all(
      Array.from({ length: 4 }, async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 3; i++) {
          const res = await request(server.http).post('/v1/classify').set('Content-Type', 'image/png').send(tall);
          statuses.push(res.status);
          assert.equal(res.body.error.code, 'payload_too_large');
          assert.match(res.body.error.message, /1×1000000 image .* operations/);
        }
        return statuses;
      }),
    );
    const latencies = await healthLatenciesDuring(url, answers);
    assert.deepEqual((await answers).flat(), Array(12).fill(413));
    assert.ok(quantile(latencies, 0.99) < 100, `/healthz p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);
  });

  it('elongated images that are accepted are resized in workers, with /healthz p99 under 100 ms', async () => {
    // 40×16000 → 224×224 enlarges one axis: the exact-PIL JS resize, ~0.1 s of CPU each.
    const long = await sharp({ create: { width: 40, height: 16000, channels: 3, background: '#406080' } }).png().toBuffer();
    const answers = Promise.all(
      Array.from({ length: 6 }, () => request(server.http).post('/v1/classify').set('Content-Type', 'image/png').send(long)),
    );
    const latencies = await healthLatenciesDuring(url, answers);
    for (const res of await answers) assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.ok(latencies.length >= 3, `${latencies.length} polls`);
    assert.ok(quantile(latencies, 0.99) < 100, `/healthz p99 ${quantile(latencies, 0.99).toFixed(1)} ms`);
  });

  it('a 1×9,000,000 PNG answers 413 in our words, not 500 with internals', async () => {
    const res = await request(server.http).post('/v1/classify').set('Content-Type', 'image/png').send(await tallPng(9_000_000));
    assert.equal(res.status, 413);
    assert.equal(res.body.error.code, 'payload_too_large');
    assert.doesNotMatch(res.body.error.message, /typed array|RangeError/i);
    assert.ok(!logs.some((line) => line.includes('"level":50')), 'no error-level log line');
  });

  it('unknown JSON keys are counted and a few named; millions of keys are refused in a short message', async () => {
    const few = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), colour: 1, ['x'.repeat(5000)]: 2 });
    assert.equal(few.status, 400);
    assert.match(few.body.error.message, /^2 unknown fields: 'colour', 'x{39}…'$/);

    // 1.5 M keys (26 MB): refused from a scan of the raw body, before JSON.parse could stall the loop for seconds.
    const keys = Object.fromEntries(Array.from({ length: 1_500_000 }, (_, i) => [`key${i}`, i]));
    const body = JSON.stringify({ image: 'AAAA', ...keys });
    const answer = request(server.http).post('/v1/classify').set('Content-Type', 'application/json').send(body).then((r) => r);
    const latencies = await healthLatenciesDuring(url, answer);
    const many = await answer;
    assert.equal(many.status, 400);
    assert.equal(many.body.error.code, 'invalid_request');
    assert.match(many.body.error.message, /more than 50000 keys/);
    assert.ok(many.text.length < 300, `${many.text.length}-byte answer`);
    // JSON.parse of these 1.5 M keys alone stalls the loop ~1.5 s; the scan refuses them in milliseconds
    // (the bound leaves room for this test process's own garbage collection of the 26 MB body).
    assert.ok(Math.max(...latencies) < 500, `/healthz max ${Math.max(...latencies).toFixed(1)} ms while the body was checked`);
    const numbers = await request(server.http).post('/v1/classify').set('Content-Type', 'application/json').send(`{"image":"x","top_k":[${Array(300_000).fill(0).join(',')}]}`);
    assert.equal(numbers.status, 400);
    assert.match(numbers.body.error.message, /more than 200000 values/);
    const deep = await request(server.http).post('/v1/classify').set('Content-Type', 'application/json').send(`{"image":${'['.repeat(5000)}${']'.repeat(5000)}}`);
    assert.equal(deep.status, 400);
    assert.match(deep.body.error.message, /nests deeper than 32/);
    const longest = Math.max(...logs.map((line) => line.length));
    assert.ok(longest < 2000, `longest log line ${longest} characters`);
  });

  it('Content-Encoding that does not match the body answers 400 (415 for unknown encodings), never 500', async () => {
    const bodies = [
      ['application/json', JSON.stringify({ image: chelsea.toString('base64') })],
      ['image/png', chelsea],
      ['multipart/form-data; boundary=X', '--X\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\nabc\r\n--X--\r\n'],
    ] as const;
    for (const encoding of ['gzip', 'deflate', 'br', 'x-unknown']) {
      for (const [type, body] of bodies) {
        const res = await request(server.http).post('/v1/classify').set('Content-Type', type).set('Content-Encoding', encoding).send(body);
        const expected = encoding === 'x-unknown' || type.startsWith('multipart') ? 415 : 400;
        assert.equal(res.status, expected, `${encoding} ${type}: ${res.status} ${res.text}`);
        assert.ok(res.body.error.code, `${encoding} ${type}: JSON error shape`);
      }
    }
  });

  it('a POST without a body answers 400 "no body", not a misleading 415', async () => {
    for (const headers of [{}, { 'Content-Type': 'application/json' }, { 'Content-Length': '0' }] as Array<Record<string, string>>) {
      const res = await fetch(`${url}/v1/classify`, { method: 'POST', headers });
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.equal(res.status, 400, JSON.stringify(headers));
      assert.equal(body.error.code, 'invalid_request');
      assert.match(body.error.message, /no body/);
    }
  });

  it('SVG, PDF and corrupt images are refused in our words, SVG before any parser sees it', async () => {
    const svg = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><image href="file:///etc/passwd"/></svg>');
    const cases: Array<[Buffer, string, RegExp]> = [
      [svg, 'image/svg+xml', /^unsupported image format \(SVG\)/],
      [Buffer.from('%PDF-1.7\n'), 'application/octet-stream', /^unsupported image format \(PDF\)/],
      [chelsea.subarray(0, chelsea.length >> 1), 'image/png', /^cannot decode the PNG image: it is corrupt or truncated$/],
    ];
    for (const [bytes, type, message] of cases) {
      const res = await request(server.http).post('/v1/classify').set('Content-Type', type).send(bytes).expect(400);
      assert.equal(res.body.error.code, 'invalid_image');
      assert.match(res.body.error.message, message);
      assert.doesNotMatch(res.body.error.message, /glib|vips|libpng|XML parse/i);
    }
  });

  it('top_k is 1–1000 and clamped to the number of labels, as the proto says', async () => {
    const all = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), top_k: 1000 }).expect(200);
    assert.equal(all.body.predictions.length, 10);
    const over = await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64'), top_k: 1001 }).expect(400);
    assert.match(over.body.error.message, /top_k/);
    const proto = await readFile(new URL('../../proto/multimodal/v1/inference.proto', import.meta.url), 'utf8');
    assert.match(proto, /return: 1–1000 \(outside that range: INVALID_ARGUMENT\)/, 'the proto documents the range');
  });

  it("Node's own 400 for a malformed request carries the JSON error shape", async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(server.httpPort, '127.0.0.1', () => socket.write('GARBAGE / HTTP/1.1\r\nHost: x\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk.toString()));
      socket.on('close', () => resolve(text));
      socket.on('error', reject);
    });
    assert.match(answer, /^HTTP\/1\.1 400 /);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { error: { code: string } };
    assert.equal(body.error.code, 'invalid_request');
  });

  it('access-log lines name task and model once, and a client that left is logged 499 with the resolved model', async () => {
    await request(server.http).post('/v1/classify').send({ image: chelsea.toString('base64') }).expect(200);
    const done = logs.filter((line) => line.includes('"msg":"request done"'));
    const last = done.at(-1)!;
    assert.equal(last.split('"model":').length - 1, 1, last);
    assert.equal(last.split('"task":').length - 1, 1, last);
  });

  it('a client that leaves mid-upload is counted cancelled (499), not a malformed request', async () => {
    const countOf = async (code: string) => {
      const metrics = await (await fetch(`${url}/metrics`)).text();
      const line = metrics.split('\n').find((l) => l.startsWith('mms_requests_total{') && l.includes('transport="http"') && l.includes(`code="${code}"`));
      return line ? Number(line.slice(line.lastIndexOf(' ') + 1)) : 0;
    };
    const before = { cancelled: await countOf('cancelled'), invalid: await countOf('invalid_request') };
    const boundary = 'leaving';
    const part = `--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="c.png"\r\nContent-Type: image/png\r\n\r\n`;
    const head = `POST /v1/classify HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${part.length + chelsea.length + 100}\r\n\r\n`;
    const socket = net.connect(server.httpPort, '127.0.0.1', () => socket.write(Buffer.concat([Buffer.from(head + part), chelsea.subarray(0, chelsea.length / 2)])));
    await new Promise((resolve) => setTimeout(resolve, 200));
    socket.destroy();
    for (let waited = 0; (await countOf('cancelled')) === before.cancelled && waited < 5000; waited += 50) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(await countOf('cancelled'), before.cancelled + 1);
    assert.equal(await countOf('invalid_request'), before.invalid);
  });
});
