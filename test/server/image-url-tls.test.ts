/**
 * Image URLs over https with the default connection (node:https pinned to the checked address):
 * a loopback TLS server with a certificate made here for `images.test`. The certificate is
 * checked against the URL's host name (not the address it was pinned to), an untrusted one is
 * refused, and a trusted one (NODE_EXTRA_CA_CERTS, read at process start: so in a child process)
 * serves the photo byte for byte.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ImageUrlFetcher } from '../../src/server/image-url/index.js';
import { sharedImage } from '../helpers/shared-dir.js';

const run = promisify(execFile);
const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** A fetcher that resolves every name to the loopback test server, which it may reach. */
const fetcherFor = (host: string) =>
  new ImageUrlFetcher({
    allowHosts: [host],
    denyHosts: [],
    allowAddresses: ['127.0.0.1/32'],
    maxBytes: 20 << 20,
    timeoutMs: 5000,
    maxRedirects: 0,
    resolve: async () => [{ address: '127.0.0.1', family: 4 }],
  });

describe('image URLs over https', () => {
  let work: string;
  let server: https.Server;
  let port: number;
  let photo: Buffer;
  let certFile: string;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-url-tls-'));
    certFile = path.join(work, 'cert.pem');
    const keyFile = path.join(work, 'key.pem');
    await run('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=images.test', '-addext', 'subjectAltName=DNS:images.test', '-keyout', keyFile, '-out', certFile]);
    photo = await readFile(sharedImage('chelsea.png'));
    server = https.createServer({ key: await readFile(keyFile), cert: await readFile(certFile) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': photo.length }).end(photo);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as { port: number }).port;
  });
  after(async () => {
    server?.close();
    await rm(work, { recursive: true, force: true });
  });

  it('refuses a certificate nobody trusts (verification is on)', async () => {
    await assert.rejects(fetcherFor('images.test').fetch(`https://images.test:${port}/chelsea.png`), (error: { code: string; message: string }) => {
      assert.equal(error.code, 'invalid_image');
      assert.match(error.message, /SELF_SIGNED|CERT|certificate/i);
      return true;
    });
  });

  it('with the certificate trusted, fetches the photo, and checks the name, not the pinned address', async () => {
    const script = path.join(work, 'fetch.mts');
    await writeFile(
      script,
      `import { ImageUrlFetcher } from ${JSON.stringify(path.join(repo, 'src/server/image-url/index.ts'))};
const fetcher = (host) => new ImageUrlFetcher({ allowHosts: [host], denyHosts: [], allowAddresses: ['127.0.0.1/32'], maxBytes: 20 << 20, timeoutMs: 5000, maxRedirects: 0, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
const bytes = await fetcher('images.test').fetch('https://images.test:${port}/chelsea.png');
const other = await fetcher('other.test').fetch('https://other.test:${port}/chelsea.png').then(() => 'fetched', (error) => error.code + ': ' + error.message);
console.log(JSON.stringify({ length: bytes.length, other }));`,
    );
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script], { cwd: repo, env: { ...process.env, NODE_EXTRA_CA_CERTS: certFile } });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as { length: number; other: string };
    assert.equal(result.length, photo.length);
    assert.match(result.other, /^invalid_image: .*(ALTNAME|altname|certificate)/i, 'a certificate for images.test does not serve other.test');
  });
});
