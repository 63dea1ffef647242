/**
 * Fault drill: the disk fills while an alignment is saved. The server process runs in a private
 * mount namespace whose alignment folder is a full 4 KiB tmpfs (root only; skipped elsewhere): the
 * fit answers 507 `insufficient_storage` on both transports, leaves no half-written file, and the
 * server goes on serving.
 */
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { freePort } from '../../bench/processes.js';
import { inferenceClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir } from '../helpers/test-models.js';

const run = promisify(execFile);
const canMount = process.getuid?.() === 0 && (await run('unshare', ['-m', 'true']).then(() => true, () => false));

describe('fault drill: a full disk while saving an alignment', { skip: canMount ? false : 'needs root and unshare (a private mount namespace)' }, () => {
  let work: string;
  let child: ChildProcess;
  let base: string;
  let grpcPort: number;
  let examples: Array<{ image: string; label: string }>;

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-disk-full-'));
    const port = await freePort();
    grpcPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const server = ['--import', 'tsx', 'src/server/main.ts', '--model-dir', `clip=${await tinyClipDir()}`, '--port', String(port), '--grpc-port', String(grpcPort), '--host', '127.0.0.1'];
    // The mount is private to the server's namespace: nothing outside sees the tmpfs. A filler
    // takes its one page, so any write fails.
    const mountThenServe = 'mkdir -p "$0/alignments" && mount -t tmpfs -o size=4k tmpfs "$0/alignments" && (head -c 8192 /dev/zero > "$0/alignments/filler" 2>/dev/null; exec "$@")';
    child = spawn('unshare', ['-m', 'sh', '-c', mountThenServe, work, process.execPath, ...server], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, MMS_CACHE_DIR: work, LOG_LEVEL: 'error' },
    });
    for (let waited = 0; !(await fetch(`${base}/readyz`).then((r) => r.ok, () => false)); waited += 200) {
      assert.ok(waited < 120_000 && child.exitCode === null, 'the server started');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const photo = sharp(await readFile(sharedImage('chelsea.png'))).resize(64, 64);
    examples = [
      { image: (await photo.clone().png().toBuffer()).toString('base64'), label: 'cat' },
      { image: (await photo.clone().negate().png().toBuffer()).toString('base64'), label: 'negative' },
    ];
  });
  after(async () => {
    child?.kill('SIGTERM');
    if (child?.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await rm(work, { recursive: true, force: true });
  });

  /** What the server's namespace has in the alignment folder. */
  const alignmentFiles = async () => {
    const { stdout } = await run('nsenter', ['-t', String(child.pid), '-m', 'ls', '-A', path.join(work, 'alignments')]);
    return stdout.split('\n').filter((name) => name && name !== 'filler');
  };

  it('answers 507 on HTTP and RESOURCE_EXHAUSTED on gRPC, leaves nothing behind, and keeps serving', async () => {
    const fit = await fetch(`${base}/v1/zero-shot/alignments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'pets', model: 'clip', examples }),
    });
    assert.equal(fit.status, 507);
    const { error } = (await fit.json()) as { error: { code: string; message: string } };
    assert.equal(error.code, 'insufficient_storage');
    assert.match(error.message, /no space left/);
    assert.deepEqual(await alignmentFiles(), []);

    const client = inferenceClient(grpcPort);
    try {
      const message = { name: 'pets', model: 'clip', examples: examples.map(({ image, label }) => ({ image: Buffer.from(image, 'base64'), label })) };
      await assert.rejects(unary(client, 'FitAlignment', message), (e: { code: number; metadata: { get(key: string): unknown[] } }) => {
        assert.equal(e.code, 8); // RESOURCE_EXHAUSTED
        assert.deepEqual(e.metadata.get('error-code'), ['insufficient_storage']);
        return true;
      });
    } finally {
      client.close();
    }
    assert.deepEqual(await alignmentFiles(), []);
    assert.deepEqual(((await (await fetch(`${base}/v1/zero-shot/alignments`)).json()) as { data: unknown[] }).data, []);
    const zeroShot = await fetch(`${base}/v1/zero-shot`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ image: examples[0]!.image, labels: ['cat', 'dog'] }),
    });
    assert.equal(zeroShot.status, 200);
  });
});
