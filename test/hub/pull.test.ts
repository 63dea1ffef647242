import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readFile, readdir, readlink, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, before, beforeEach, describe, it } from 'node:test';
import {
  createProgressReporter,
  downloadFile,
  fetchFileMetadata,
  findCachedSnapshot,
  HubError,
  hubCacheDir,
  listCachedRepos,
  pullFiles,
  readRef,
  removeCachedRepo,
  repoFolderName,
} from '../../src/models/hub/index.js';
import { fakeBytes, type FakeHub, gitBlobSha1, sha256Hex, startFakeHub } from '../helpers/fake-hub.js';

const REPO = 'acme/tiny-vit';
const COMMIT = '1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d';
const GATED = 'acme/gated-vit';
const GATED_COMMIT = 'ffeeddccbbaa99887766554433221100ffeeddcc';
const TOKEN = 'hf_goodtoken';

const CONFIG = JSON.stringify({ model_type: 'vit', hidden_size: 32 });
const PREPROCESSOR = JSON.stringify({ do_resize: true, size: { height: 32, width: 32 } });
const MODEL = fakeBytes(300_000, 7);
const QUANTIZED = fakeBytes(90_000, 11);

const FILES = [
  { path: 'config.json' },
  { path: 'preprocessor_config.json' },
  { path: 'onnx/model.onnx' },
  { path: 'onnx/model_quantized.onnx' },
];

let hub: FakeHub;
let cacheDir: string;

function hubError(kind: HubError['kind'], pattern?: RegExp): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof HubError, `expected a HubError, got ${String(error)}`);
    assert.equal(error.kind, kind, `kind ${error.kind}: ${error.message}`);
    if (pattern) assert.match(error.message, pattern);
    return true;
  };
}

function gets(file: string): { range: string | undefined; status: number; server: string }[] {
  return hub.requests.filter((r) => r.method === 'GET' && r.file === `${REPO}:${file}`);
}

function repoDir(repo = REPO): string {
  return path.join(cacheDir, repoFolderName(repo));
}

before(async () => {
  hub = await startFakeHub([
    {
      repo: REPO,
      commit: COMMIT,
      files: {
        'config.json': { content: CONFIG },
        'preprocessor_config.json': { content: PREPROCESSOR },
        'onnx/model.onnx': { content: MODEL, lfs: true },
        'onnx/model_quantized.onnx': { content: QUANTIZED, lfs: true },
      },
    },
    {
      repo: GATED,
      commit: GATED_COMMIT,
      gated: TOKEN,
      files: { 'config.json': { content: CONFIG }, 'model.onnx': { content: MODEL, lfs: true } },
    },
  ]);
});

after(async () => {
  await hub.close();
});

beforeEach(async () => {
  cacheDir = await mkdtemp(path.join(os.tmpdir(), 'hub-cache-'));
  hub.reset();
  hub.cdnMode('relative');
});

afterEach(async () => {
  await rm(cacheDir, { recursive: true, force: true });
});

describe('pullFiles against a fake Hub', () => {
  it('pulls a snapshot into the HF cache layout other HF tools read', async () => {
    const result = await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
    assert.equal(result.commit, COMMIT);
    assert.equal(result.snapshotDir, path.join(cacheDir, 'models--acme--tiny-vit', 'snapshots', COMMIT));
    assert.equal(result.bytesDownloaded, CONFIG.length + PREPROCESSOR.length + MODEL.length + QUANTIZED.length);

    // refs/main holds the commit, without a newline
    assert.equal(await readFile(path.join(repoDir(), 'refs', 'main'), 'utf8'), COMMIT);
    // blobs named by etag: git sha1 for regular files, sha256 for LFS files
    const blobs = (await readdir(path.join(repoDir(), 'blobs'))).sort();
    const expected = [gitBlobSha1(CONFIG), gitBlobSha1(PREPROCESSOR), sha256Hex(MODEL), sha256Hex(QUANTIZED)].sort();
    assert.deepEqual(blobs, expected, 'blobs/ holds exactly the four blobs (no .incomplete or .lock left)');
    // snapshot entries are relative symlinks into ../../blobs (one more ../ per folder level)
    const snap = result.snapshotDir;
    assert.ok((await lstat(path.join(snap, 'config.json'))).isSymbolicLink(), 'config.json is a symlink');
    assert.equal(await readlink(path.join(snap, 'config.json')), `../../blobs/${gitBlobSha1(CONFIG)}`);
    assert.equal(await readlink(path.join(snap, 'onnx', 'model.onnx')), `../../../blobs/${sha256Hex(MODEL)}`);
    assert.equal(await readFile(path.join(snap, 'config.json'), 'utf8'), CONFIG);
    assert.ok((await readFile(path.join(snap, 'onnx', 'model.onnx'))).equals(MODEL), 'model.onnx bytes are intact');

    // LFS bytes came from the CDN location, regular files from resolve
    assert.equal(gets('onnx/model.onnx')[0]?.range, undefined);
    assert.match(hub.requests.find((r) => r.method === 'GET' && r.file === `${REPO}:onnx/model.onnx`)?.url ?? '', /^\/cdn\//);
    assert.ok(
      result.warnings.some((w) => w.startsWith("revision 'main' is not pinned:") && w.includes(COMMIT)),
      `unpinned warning in ${JSON.stringify(result.warnings)}`,
    );

    assert.equal(await readRef(cacheDir, REPO, 'main'), COMMIT);
    assert.equal(await findCachedSnapshot(cacheDir, REPO, 'main', FILES.map((f) => f.path)), snap);
    assert.equal(await findCachedSnapshot(cacheDir, REPO, COMMIT, ['config.json']), snap);
    assert.equal(await findCachedSnapshot(cacheDir, REPO, 'main', ['config.json', 'onnx/model_fp16.onnx']), undefined);
    assert.equal(await findCachedSnapshot(cacheDir, REPO, 'v2', ['config.json']), undefined);

    const [listed, ...others] = await listCachedRepos(cacheDir);
    assert.equal(others.length, 0, 'one repo cached');
    assert.deepEqual(
      { repo: listed?.repo, refs: listed?.refs, snapshots: listed?.snapshots, blobBytes: listed?.blobBytes, sizeBytes: listed?.sizeBytes },
      { repo: REPO, refs: { main: COMMIT }, snapshots: [COMMIT], blobBytes: result.bytesDownloaded, sizeBytes: result.bytesDownloaded },
    );
  });

  it('downloads nothing when the snapshot is already cached', async () => {
    await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
    hub.reset();
    const again = await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
    assert.equal(again.bytesDownloaded, 0);
    assert.equal(hub.requests.filter((r) => r.method === 'GET').length, 0, 'only HEADs for a branch');
    hub.reset();
    const pinned = await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files: FILES, cacheDir });
    assert.equal(pinned.commit, COMMIT);
    assert.equal(hub.requests.length, 0, 'a pinned commit already cached needs no request');
    assert.deepEqual(pinned.warnings, [], 'a pinned revision gives no warning');
  });

  it('resumes a download cut mid-file with Range, without fetching bytes twice', async () => {
    const cut = 100_000;
    hub.cutAfter(REPO, 'onnx/model.onnx', cut);
    const options = { endpoint: hub.endpoint, repo: REPO, revision: 'main', path: 'onnx/model.onnx', cacheDir, maxRetries: 0 };
    await assert.rejects(downloadFile(options), hubError('interrupted', /run the pull again/));
    const incomplete = path.join(repoDir(), 'blobs', `${sha256Hex(MODEL)}.incomplete`);
    assert.equal((await stat(incomplete)).size, cut, 'the partial file is kept');

    const result = await downloadFile(options);
    assert.equal(result.bytesDownloaded, MODEL.length - cut);
    assert.equal(hub.bytesServed(REPO, 'onnx/model.onnx'), MODEL.length, 'every byte served exactly once');
    const [first, second] = gets('onnx/model.onnx');
    assert.equal(first?.range, undefined);
    assert.equal(second?.range, `bytes=${cut}-`);
    assert.equal(second?.status, 206);
    assert.ok((await readFile(result.snapshotPath)).equals(MODEL), 'the resumed file is intact');
    assert.equal(existsSync(incomplete), false, 'the .incomplete file became the blob');
  });

  it('retries a dropped connection by itself, resuming where it stopped', async () => {
    hub.cutAfter(REPO, 'onnx/model.onnx', 54_321);
    const result = await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files: FILES, cacheDir });
    assert.equal(hub.bytesServed(REPO, 'onnx/model.onnx'), MODEL.length);
    assert.deepEqual(
      gets('onnx/model.onnx').map((r) => r.range),
      [undefined, 'bytes=54321-'],
    );
    assert.ok((await readFile(path.join(result.snapshotDir, 'onnx/model.onnx'))).equals(MODEL), 'intact');
  });

  it('deletes a file whose sha256 does not match X-Linked-Etag and says expected vs got', async () => {
    hub.corrupt(REPO, 'onnx/model.onnx');
    try {
      const bad = Buffer.from(MODEL);
      bad[0] = (bad[0] ?? 0) ^ 0xff;
      await assert.rejects(
        pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir }),
        hubError('checksum', new RegExp(`sha256 is ${sha256Hex(bad)} but the Hub \\(X-Linked-Etag\\) says ${sha256Hex(MODEL)}.*deleted`)),
      );
      const blobs = await readdir(path.join(repoDir(), 'blobs'));
      assert.ok(!blobs.some((b) => b.startsWith(sha256Hex(MODEL))), `no blob nor .incomplete left: ${blobs.join(', ')}`);
      assert.equal(existsSync(path.join(repoDir(), 'snapshots', COMMIT, 'onnx', 'model.onnx')), false);
    } finally {
      hub.corrupt(REPO, 'onnx/model.onnx', false);
    }
  });

  it('checks a regular file against its git blob sha1 ETag', async () => {
    hub.corrupt(REPO, 'config.json');
    try {
      await assert.rejects(
        downloadFile({ endpoint: hub.endpoint, repo: REPO, revision: 'main', path: 'config.json', cacheDir }),
        hubError('checksum', new RegExp(`git blob sha1 is [0-9a-f]{40} but the Hub \\(ETag\\) says ${gitBlobSha1(CONFIG)}`)),
      );
      assert.deepEqual(await readdir(path.join(repoDir(), 'blobs')), []);
    } finally {
      hub.corrupt(REPO, 'config.json', false);
    }
    const ok = await downloadFile({ endpoint: hub.endpoint, repo: REPO, revision: 'main', path: 'config.json', cacheDir });
    assert.equal(path.basename(ok.blobPath), gitBlobSha1(CONFIG));
  });

  it('fails on a wrong manifest sha256: before downloading an LFS file, after downloading a regular one', async () => {
    const wrong = 'a'.repeat(64);
    await assert.rejects(
      pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files: [{ path: 'onnx/model.onnx', sha256: wrong }], cacheDir }),
      hubError('checksum', new RegExp(`manifest expects sha256 ${wrong} but the Hub \\(X-Linked-Etag\\) has ${sha256Hex(MODEL)}`)),
    );
    assert.equal(hub.bytesServed(REPO, 'onnx/model.onnx'), 0, 'nothing downloaded');
    await assert.rejects(
      pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files: [{ path: 'config.json', sha256: wrong }], cacheDir }),
      hubError('checksum', new RegExp(`sha256 is ${sha256Hex(CONFIG)} but the manifest says ${wrong}.*deleted`)),
    );
    assert.deepEqual(await readdir(path.join(repoDir(), 'blobs')), [], 'the bad file was removed');
    const ok = await pullFiles({
      endpoint: hub.endpoint,
      repo: REPO,
      revision: COMMIT,
      files: [
        { path: 'config.json', sha256: sha256Hex(CONFIG) },
        { path: 'onnx/model.onnx', sha256: sha256Hex(MODEL) },
      ],
      cacheDir,
    });
    assert.equal(ok.commit, COMMIT);
  });

  it('says to set HF_TOKEN for a gated repo, and sends the token only to the Hub', async () => {
    const files = [{ path: 'config.json' }, { path: 'model.onnx' }];
    await assert.rejects(
      pullFiles({ endpoint: hub.endpoint, repo: GATED, revision: 'main', files, cacheDir }),
      hubError('unauthorized', /gated or private.*accept its terms.*HF_TOKEN/),
    );
    await assert.rejects(
      pullFiles({ endpoint: hub.endpoint, token: 'hf_wrong', repo: GATED, revision: 'main', files, cacheDir }),
      (error) => hubError('unauthorized', /HF_TOKEN has no access/)(error) && (error as HubError).status === 403,
    );
    hub.reset();
    hub.cdnMode('other-host');
    const result = await pullFiles({ endpoint: hub.endpoint, token: TOKEN, repo: GATED, revision: 'main', files, cacheDir });
    assert.equal(result.commit, GATED_COMMIT);
    const toHub = hub.requests.filter((r) => r.server === 'hub');
    const toCdn = hub.requests.filter((r) => r.server === 'cdn');
    assert.ok(toHub.length > 0 && toHub.every((r) => r.authorization === `Bearer ${TOKEN}`), 'Bearer token on every Hub request');
    assert.equal(toCdn.length, 1, 'the LFS file came from the other host');
    assert.equal(toCdn[0]?.authorization, undefined, 'no token sent to the other host');
    assert.ok((await readFile(path.join(result.snapshotDir, 'model.onnx'))).equals(MODEL), 'gated model intact');
  });

  it('tells a missing repo, revision and file apart', async () => {
    const pull = (repo: string, revision: string, file: string, token?: string): Promise<unknown> =>
      downloadFile({ endpoint: hub.endpoint, token, repo, revision, path: file, cacheDir });
    await assert.rejects(pull('acme/nope', 'main', 'config.json', TOKEN), hubError('not_found', /repository 'acme\/nope' was not found/));
    // without a token the Hub answers 401 RepoNotFound (it does not tell private repos from missing ones)
    await assert.rejects(
      pull('acme/nope', 'main', 'config.json'),
      (error) => hubError('not_found', /repository 'acme\/nope' was not found.*HF_TOKEN if it is a private repo/)(error) && (error as HubError).status === 401,
    );
    await assert.rejects(pull(REPO, 'v9', 'config.json'), hubError('not_found', /revision 'v9' was not found in 'acme\/tiny-vit'/));
    await assert.rejects(pull(REPO, 'main', 'onnx/nope.onnx'), hubError('not_found', /file 'onnx\/nope.onnx' was not found in 'acme\/tiny-vit'/));
  });

  it('skips optional files the repo lacks and remembers that in .no_exist', async () => {
    const files = [...FILES, { path: 'onnx/model_fp16.onnx', optional: true }];
    const result = await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files, cacheDir });
    assert.deepEqual(result.skipped, ['onnx/model_fp16.onnx']);
    assert.ok(existsSync(path.join(repoDir(), '.no_exist', COMMIT, 'onnx', 'model_fp16.onnx')), '.no_exist marker written');
    hub.reset();
    await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files, cacheDir });
    assert.equal(hub.requests.length, 0, 'a known-missing optional file is not asked for again');
  });

  it('reads file metadata from the first answer: X-Linked-Etag for LFS, the git sha1 ETag otherwise', async () => {
    const where = { endpoint: hub.endpoint, repo: REPO, revision: 'main' };
    const lfs = await fetchFileMetadata({ ...where, path: 'onnx/model.onnx' });
    assert.deepEqual(
      { commit: lfs.commit, etag: lfs.etag, size: lfs.size, lfs: lfs.lfs },
      { commit: COMMIT, etag: sha256Hex(MODEL), size: MODEL.length, lfs: true },
    );
    assert.equal(lfs.location, `${hub.endpoint}/cdn/${sha256Hex(MODEL)}?file=${encodeURIComponent(`${REPO}:onnx/model.onnx`)}`);
    const plain = await fetchFileMetadata({ ...where, path: 'config.json' });
    assert.deepEqual(
      { commit: plain.commit, etag: plain.etag, size: plain.size, lfs: plain.lfs },
      { commit: COMMIT, etag: gitBlobSha1(CONFIG), size: CONFIG.length, lfs: false },
    );
    assert.equal(plain.location, `${hub.endpoint}/${REPO}/resolve/${COMMIT}/config.json`, 'the GET is pinned to the commit');
    assert.equal(hub.requests.filter((r) => r.method !== 'HEAD').length, 0, 'HEADs only, no redirect followed');
  });

  it("fails clearly when the Hub answers another commit than the pull's", async () => {
    await assert.rejects(
      downloadFile({ endpoint: hub.endpoint, repo: REPO, revision: 'main', path: 'config.json', cacheDir, expectedCommit: 'f'.repeat(40) }),
      hubError('commit_changed', /moved during the pull\?.*pin the revision/),
    );
  });

  it('says offline when the endpoint cannot be reached, and falls back to a complete cached snapshot', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const endpoint = `http://127.0.0.1:${port}`;
    await assert.rejects(
      pullFiles({ endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir }),
      hubError('offline', new RegExp(`cannot reach ${endpoint}.*are you offline\\?.*HF_ENDPOINT`)),
    );
    await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
    const cached = await pullFiles({ endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
    assert.equal(cached.commit, COMMIT);
    assert.ok(cached.warnings.some((w) => w.includes('using the cached snapshot')), JSON.stringify(cached.warnings));
  });

  it('lets two concurrent pulls of one repo share the cache: one download, identical files', async () => {
    hub.slow(REPO, 'onnx/model.onnx', 150);
    try {
      const pull = (): ReturnType<typeof pullFiles> =>
        pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: FILES, cacheDir });
      const [a, b] = await Promise.all([pull(), pull()]);
      assert.equal(a.snapshotDir, b.snapshotDir);
      assert.equal(hub.bytesServed(REPO, 'onnx/model.onnx'), MODEL.length, 'the lock let one pull download, the other wait');
      assert.ok((await readFile(path.join(a.snapshotDir, 'onnx', 'model.onnx'))).equals(MODEL), 'model intact');
      assert.equal(await readFile(path.join(a.snapshotDir, 'config.json'), 'utf8'), CONFIG);
      const left = (await readdir(path.join(repoDir(), 'blobs'))).filter((n) => n.includes('.'));
      assert.deepEqual(left, [], 'no lock or partial file left');
    } finally {
      hub.slow(REPO, 'onnx/model.onnx', 0);
    }
  });

  it('takes over a lock left by a dead process or gone stale', async () => {
    const blobs = path.join(repoDir(), 'blobs');
    await mkdir(blobs, { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', '0']).pid;
    await writeFile(
      path.join(blobs, `${sha256Hex(MODEL)}.lock`),
      JSON.stringify({ pid: dead, hostname: os.hostname(), token: 'x', createdAt: new Date().toISOString() }),
    );
    const old = new Date(Date.now() - 60_000);
    await writeFile(path.join(blobs, `${gitBlobSha1(CONFIG)}.lock`), 'not json');
    await utimes(path.join(blobs, `${gitBlobSha1(CONFIG)}.lock`), old, old);
    const result = await pullFiles({
      endpoint: hub.endpoint,
      repo: REPO,
      revision: COMMIT,
      files: [{ path: 'onnx/model.onnx' }, { path: 'config.json' }],
      cacheDir,
    });
    assert.equal(result.commit, COMMIT);
    assert.deepEqual((await readdir(blobs)).sort(), [gitBlobSha1(CONFIG), sha256Hex(MODEL)].sort());
  });

  it('says which folder is full on ENOSPC and keeps the partial file', { skip: !existsSync('/dev/full') }, async () => {
    const blobs = path.join(repoDir(), 'blobs');
    await mkdir(blobs, { recursive: true });
    const incomplete = path.join(blobs, `${sha256Hex(MODEL)}.incomplete`);
    await symlink('/dev/full', incomplete);
    await assert.rejects(
      downloadFile({ endpoint: hub.endpoint, repo: REPO, revision: 'main', path: 'onnx/model.onnx', cacheDir }),
      hubError('disk_full', new RegExp(`no space left on the disk of ${blobs.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}.*HF_HUB_CACHE`)),
    );
    assert.ok((await lstat(incomplete)).isSymbolicLink(), 'the .incomplete is kept');
  });

  it('removes a cached repo', async () => {
    await pullFiles({ endpoint: hub.endpoint, repo: REPO, revision: COMMIT, files: [{ path: 'config.json' }], cacheDir });
    assert.equal(await removeCachedRepo(cacheDir, REPO), true);
    assert.deepEqual(await listCachedRepos(cacheDir), []);
    assert.equal(await removeCachedRepo(cacheDir, REPO), false);
  });
});

describe('hubCacheDir', () => {
  it('follows huggingface_hub precedence', () => {
    const homeDir = '/home/u';
    assert.equal(hubCacheDir({ homeDir }), '/home/u/.cache/huggingface/hub');
    assert.equal(hubCacheDir({ homeDir, hfHome: '/data/hf' }), '/data/hf/hub');
    assert.equal(hubCacheDir({ homeDir, hfHome: '~/hf' }), '/home/u/hf/hub');
    assert.equal(hubCacheDir({ homeDir, xdgCacheHome: '/xdg' }), '/xdg/huggingface/hub');
    assert.equal(hubCacheDir({ homeDir, hfHome: '/data/hf', hfHubCache: '/fast/hub' }), '/fast/hub');
    assert.equal(hubCacheDir({ homeDir, hfHome: '', hfHubCache: '' }), '/home/u/.cache/huggingface/hub');
  });

  it('rejects repo ids and paths that could leave the cache', () => {
    assert.equal(repoFolderName('org/name'), 'models--org--name');
    assert.throws(() => repoFolderName('../etc'), /not a Hugging Face repo id/);
    assert.throws(() => repoFolderName('a/b/c'), /not a Hugging Face repo id/);
  });
});

describe('progress lines', () => {
  it('prints plain lines off a terminal, at most every 10%', () => {
    const lines: string[] = [];
    const stream = { isTTY: false, write: (chunk: string) => lines.push(chunk) > 0 } as unknown as NodeJS.WriteStream;
    let now = 0;
    const progress = createProgressReporter(stream, { now: () => now });
    const total = 27_400_000;
    for (let downloaded = 0; downloaded <= total; downloaded += 274_000) {
      progress.update({ repo: REPO, path: 'onnx/model.onnx', downloaded, total });
    }
    progress.fileDone({ repo: REPO, path: 'onnx/model.onnx', total, bytesDownloaded: total });
    progress.fileDone({ repo: REPO, path: 'config.json', total: 50, bytesDownloaded: 0 });
    // slow: a line after 5 s even without 10% more
    progress.update({ repo: REPO, path: 'big.onnx', downloaded: 0, total: 1e9 });
    now = 6000;
    progress.update({ repo: REPO, path: 'big.onnx', downloaded: 1e6, total: 1e9 });
    progress.stop();
    const text = lines.join('');
    assert.match(text, /^pull acme\/tiny-vit onnx\/model\.onnx: 10% \(2\.7\/27\.4 MB\)$/m);
    assert.match(text, /^pull acme\/tiny-vit onnx\/model\.onnx: 90% \(24\.7\/27\.4 MB\)$/m);
    assert.match(text, /^pull acme\/tiny-vit onnx\/model\.onnx: 100% \(27\.4\/27\.4 MB\)$/m);
    assert.match(text, /^pull acme\/tiny-vit config\.json: already in the cache$/m);
    assert.match(text, /^pull acme\/tiny-vit big\.onnx: 0% \(0\.00\/1\.00 GB\)$/m);
    const modelLines = lines.filter((l) => l.includes('onnx/model.onnx'));
    assert.equal(modelLines.length, 10, `9 steps + done, got:\n${modelLines.join('')}`);
  });
});
