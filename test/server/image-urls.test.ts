/**
 * Image URLs through the real server (the fetcher's own rules are test/server/image-url.test.ts):
 * off by default (400); on, a photo on a loopback test host (opened with `allow_addresses`, a
 * test-only allowance) is fetched and classified over HTTP and MCP, and chatted about over HTTP
 * and gRPC; addresses in refused ranges answer `url_not_allowed` without a connection being made
 * (they are refused from the address, before any connect).
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { RunningServer } from '../../src/server/server.js';
import { inferenceClient } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinySmolVlmDir, tinyVitDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

async function errorCode(response: Response): Promise<string | undefined> {
  return ((await response.json()) as { error?: { code: string } }).error?.code;
}

describe('image URLs through the server', () => {
  let photoHost: http.Server;
  let photoUrl: string;
  let fetches: string[];
  let on: RunningServer;
  let off: RunningServer;
  /** On, for any public host: what is refused is refused for its address. */
  let publicOnly: RunningServer;

  before(async () => {
    const photo = await readFile(sharedImage('chelsea.png'));
    fetches = [];
    photoHost = http.createServer((req, res) => {
      fetches.push(req.url ?? '');
      if (req.url === '/moved') return void res.writeHead(302, { location: '/chelsea.png' }).end();
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': photo.length }).end(photo);
    });
    await new Promise<void>((resolve) => photoHost.listen(0, '127.0.0.1', resolve));
    const { port } = photoHost.address() as { port: number };
    photoUrl = `http://127.0.0.1:${port}`;
    const flags = ['--model-dir', `vit=${await tinyVitDir()}`, '--model-dir', `chat=${await tinySmolVlmDir()}`];
    off = await startTestServer(flags);
    // The test host is named exactly (its port is not 80 or 443) and its address opened.
    on = await startTestServer(flags, {
      imageUrls: { enabled: true, allowHosts: ['127.0.0.1'], denyHosts: [], allowAddresses: ['127.0.0.1/32'], maxRedirects: 3, timeoutMs: 5000 },
    });
    publicOnly = await startTestServer(['--model-dir', `vit=${await tinyVitDir()}`], {
      imageUrls: { enabled: true, allowHosts: [], denyHosts: [], allowAddresses: [], maxRedirects: 3, timeoutMs: 5000 },
    });
  });
  after(async () => {
    await Promise.all([on.close(), off.close(), publicOnly.close()]);
    photoHost.close();
  });

  const base = (server: RunningServer) => `http://127.0.0.1:${server.httpPort}`;

  it('are refused with 400 while off (the default), and nothing is fetched', async () => {
    const response = await fetch(`${base(off)}/v1/classify`, json({ image: `${photoUrl}/chelsea.png` }));
    assert.equal(response.status, 400);
    const { error } = (await response.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'invalid_request');
    assert.match(error.message, /image_urls\.enabled/);
    assert.deepEqual(fetches, []);
  });

  it('when on, fetch and classify a photo over HTTP and MCP, following a redirect', async () => {
    const direct = await fetch(`${base(on)}/v1/classify`, json({ image: `${photoUrl}/chelsea.png` }));
    assert.equal(direct.status, 200);
    const redirected = await fetch(`${base(on)}/v1/classify`, json({ image: `${photoUrl}/moved` }));
    assert.equal(redirected.status, 200);
    assert.deepEqual(((await redirected.json()) as { predictions: unknown[] }).predictions, ((await direct.json()) as { predictions: unknown[] }).predictions);
    const mcp = await fetch(`${base(on)}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'classify_image', arguments: { image: `${photoUrl}/chelsea.png` } } }),
    });
    assert.match(await mcp.text(), /"predictions"/);
    assert.ok(fetches.includes('/moved') && fetches.filter((url) => url === '/chelsea.png').length >= 3, fetches.join(', '));
  });

  it('when on, a chat image_url is fetched over HTTP and gRPC', async () => {
    const messages = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `${photoUrl}/chelsea.png` } }, { type: 'text', text: 'What is it?' }] }];
    const chat = await fetch(`${base(on)}/v1/chat/completions`, json({ model: 'chat', max_tokens: 2, messages }));
    assert.equal(chat.status, 200, await chat.clone().text());
    const client = inferenceClient(on.grpcPort);
    try {
      const status = await new Promise<number>((resolve) => {
        const call = client.Chat!.call(client, {
          model: 'chat',
          max_tokens: 2,
          messages: [{ role: 'user', parts: [{ type: 'image_url', image_url: { url: `${photoUrl}/chelsea.png` } }, { type: 'text', text: 'What is it?' }] }],
        }) as grpc.ClientReadableStream<unknown>;
        call.on('data', () => {});
        call.on('error', (error: grpc.ServiceError) => resolve(error.code));
        call.on('end', () => resolve(grpc.status.OK));
      });
      assert.equal(status, grpc.status.OK);
    } finally {
      client.close();
    }
  });

  it('when on, refuse addresses in loopback, private, link-local (metadata) and CGNAT ranges as url_not_allowed', async () => {
    const before = fetches.length;
    const refused = {
      'http://169.254.169.254/latest/meta-data/': /link-local/i,
      'http://10.0.0.1/cat.png': /private/i,
      'http://[::ffff:127.0.0.1]/cat.png': /loopback/i,
      'http://100.64.0.1/cat.png': /carrier|cgnat|shared/i,
      'http://localhost/cat.png': /loopback/i,
    };
    for (const [url, addressClass] of Object.entries(refused)) {
      const response = await fetch(`${base(publicOnly)}/v1/classify`, json({ image: url }));
      const { error } = (await response.json()) as { error: { code: string; message: string } };
      assert.equal(error.code, 'url_not_allowed', `${url}: ${error.message}`);
      assert.match(error.message, addressClass, url);
    }
    // The loopback test host itself, unnamed on this server, is refused too.
    assert.equal(await errorCode(await fetch(`${base(publicOnly)}/v1/classify`, json({ image: `${photoUrl}/chelsea.png` }))), 'url_not_allowed');
    assert.equal(fetches.length, before);
  });
});
