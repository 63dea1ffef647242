/**
 * A local HTTP server that answers like the Hugging Face Hub's resolve endpoint:
 *
 * - `HEAD|GET /<repo>/resolve/<revision>/<path>` with `X-Repo-Commit`; the revision is a branch
 *   (`main` + `branches`) or the commit itself.
 * - Regular (non-LFS) files: 200, `ETag: "<git blob sha1>"`, the bytes, `Range` → 206.
 * - LFS files: 302 with `X-Linked-Etag: "<sha256>"`, `X-Linked-Size`, an `ETag` that is NOT the
 *   sha256 (so a client must prefer X-Linked-Etag), and a `Location` to the CDN: relative
 *   (`/cdn/<sha256>` on the same server) or absolute on a second server (another origin).
 * - `GET /cdn/<sha256>` (both servers): the bytes, `ETag: "<sha256>"`, `Range` → 206, no auth.
 * - A repo that does not exist: 401 `X-Error-Code: RepoNotFound` without a token (the Hub hides
 *   private repos), 404 with one. A gated repo: 401 `GatedRepo` without a token, 403 with a wrong
 *   one. Unknown revision: 404 `RevisionNotFound`; unknown file: 404 `EntryNotFound` (+ X-Repo-Commit).
 *
 * Counters: every request (method, path, Range, Authorization, status) and the body bytes served
 * per file. Switches: cut the next GET of a file after N body bytes (a dropped download), serve a
 * file corrupted (one byte flipped), slow a file down mid-body.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeFile {
  content: Uint8Array | string;
  lfs?: boolean;
}

export interface FakeRepoSpec {
  repo: string;
  commit: string;
  files: Record<string, FakeFile>;
  /** The one token that opens this gated repo. */
  gated?: string;
  /** Branches besides `main` that resolve to `commit`. */
  branches?: string[];
}

export interface ServedRequest {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  status: number;
  range: string | undefined;
  authorization: string | undefined;
  /** `<repo>:<path>` of the file the request was about, if any. */
  file: string | undefined;
}

export interface FakeHub {
  /** The Hub's origin (HF_ENDPOINT). */
  endpoint: string;
  /** The second server's origin (the "CDN" host for `cdnMode('other-host')`). */
  cdnOrigin: string;
  requests: ServedRequest[];
  bytesServed(repo: string, path: string): number;
  /** The next GET of this file closes the connection after `bytes` body bytes. */
  cutAfter(repo: string, path: string, bytes: number): void;
  /** Serve this file with one byte flipped (its etag headers stay right). */
  corrupt(repo: string, path: string, on?: boolean): void;
  /** Pause `ms` half way through each GET body of this file. */
  slow(repo: string, path: string, ms: number): void;
  /** Where LFS redirects point: `/cdn/…` on the Hub (default) or the second server. */
  cdnMode(mode: 'relative' | 'other-host'): void;
  addRepo(spec: FakeRepoSpec): void;
  /** Forget the counters. */
  reset(): void;
  close(): Promise<void>;
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The git blob id: sha1 of `blob <size>\0` + the bytes (the Hub's ETag of a regular file). */
export function gitBlobSha1(data: Uint8Array | string): string {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data);
  return createHash('sha1').update(`blob ${bytes.length}\0`).update(bytes).digest('hex');
}

/** Deterministic pseudo-random bytes (a stand-in for a model graph). */
export function fakeBytes(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

interface FileRecord {
  key: string;
  repo: string;
  path: string;
  content: Buffer;
  lfs: boolean;
  sha256: string;
  sha1: string;
}

export async function startFakeHub(repos: FakeRepoSpec[] = []): Promise<FakeHub> {
  const specs = new Map<string, FakeRepoSpec>();
  const records = new Map<string, FileRecord>(); // by key
  const bySha = new Map<string, FileRecord>();
  const bytes = new Map<string, number>();
  const cuts = new Map<string, number>();
  const corrupted = new Set<string>();
  const slowed = new Map<string, number>();
  const requests: ServedRequest[] = [];
  let mode: 'relative' | 'other-host' = 'relative';

  const addRepo = (spec: FakeRepoSpec): void => {
    specs.set(spec.repo, spec);
    for (const [path, file] of Object.entries(spec.files)) {
      const content = Buffer.from(file.content);
      const record: FileRecord = {
        key: `${spec.repo}:${path}`,
        repo: spec.repo,
        path,
        content,
        lfs: file.lfs ?? false,
        sha256: sha256Hex(content),
        sha1: gitBlobSha1(content),
      };
      records.set(record.key, record);
      if (!bySha.has(record.sha256)) bySha.set(record.sha256, record);
    }
  };
  repos.forEach(addRepo);

  const hub = http.createServer((req, res) => handle('hub', req, res));
  const cdn = http.createServer((req, res) => handle('cdn', req, res));
  await Promise.all([listen(hub), listen(cdn)]);
  const endpoint = `http://127.0.0.1:${(hub.address() as AddressInfo).port}`;
  const cdnOrigin = `http://127.0.0.1:${(cdn.address() as AddressInfo).port}`;

  function handle(server: 'hub' | 'cdn', req: http.IncomingMessage, res: http.ServerResponse): void {
    const entry: ServedRequest = {
      server,
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      status: 0,
      range: req.headers.range,
      authorization: req.headers.authorization,
      file: undefined,
    };
    requests.push(entry);
    const answer = (status: number, headers: Record<string, string> = {}, body?: string): void => {
      entry.status = status;
      res.writeHead(status, { 'content-length': String(Buffer.byteLength(body ?? '')), ...headers });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    const parsed = new URL(entry.url, 'http://x');
    const pathname = parsed.pathname;

    const cdnMatch = /^\/cdn\/([0-9a-f]{64})$/.exec(pathname);
    if (cdnMatch) {
      // Content-addressed like the real CDN; the query (like its signed-URL query) says which file it was for.
      const named = records.get(parsed.searchParams.get('file') ?? '');
      const record = named?.sha256 === cdnMatch[1] ? named : bySha.get(cdnMatch[1] as string);
      if (!record) return answer(404, {}, 'NoSuchKey');
      entry.file = record.key;
      return serveBody(req, res, entry, record, { etag: `"${record.sha256}"` });
    }
    const match = server === 'hub' ? /^\/(.+?)\/resolve\/([^/]+)\/(.+)$/.exec(pathname) : null;
    if (!match) return answer(404, {}, 'Not Found');
    const repo = match[1] as string;
    const revision = decodeURIComponent(match[2] as string);
    const path = (match[3] as string).split('/').map(decodeURIComponent).join('/');
    const auth = req.headers.authorization;
    const spec = specs.get(repo);
    if (!spec) {
      return answer(auth ? 404 : 401, { 'x-error-code': 'RepoNotFound', 'x-error-message': 'Repository not found' }, 'Repository not found');
    }
    if (spec.gated !== undefined && auth !== `Bearer ${spec.gated}`) {
      const message = auth
        ? `Access to model ${repo} is restricted and you are not in the authorized list. Visit ${endpoint}/${repo} to ask for access.`
        : `Access to model ${repo} is restricted. You must have access to it and be authenticated to access it. Please log in.`;
      return answer(auth ? 403 : 401, { 'x-error-code': 'GatedRepo', 'x-error-message': message }, message);
    }
    if (revision !== spec.commit && revision !== 'main' && !(spec.branches ?? []).includes(revision)) {
      return answer(404, { 'x-error-code': 'RevisionNotFound', 'x-error-message': `Invalid rev id: ${revision}` }, 'Invalid rev id');
    }
    const record = records.get(`${repo}:${path}`);
    const common = { 'x-repo-commit': spec.commit, 'accept-ranges': 'bytes' };
    if (!record) {
      return answer(404, { ...common, 'x-error-code': 'EntryNotFound', 'x-error-message': 'Entry not found' }, 'Entry not found');
    }
    entry.file = record.key;
    if (record.lfs) {
      const cdnPath = `/cdn/${record.sha256}?file=${encodeURIComponent(record.key)}`;
      const location = mode === 'relative' ? cdnPath : `${cdnOrigin}${cdnPath}`;
      return answer(
        302,
        {
          ...common,
          location,
          'x-linked-etag': `"${record.sha256}"`,
          'x-linked-size': String(record.content.length),
          // The resolve answer's own ETag is not the content's sha256: clients must prefer X-Linked-Etag.
          etag: `"${gitBlobSha1(`version https://git-lfs.github.com/spec/v1\noid sha256:${record.sha256}\n`)}"`,
        },
        `Found. Redirecting to ${location}`,
      );
    }
    return serveBody(req, res, entry, record, { ...common, etag: `"${record.sha1}"` });
  }

  function serveBody(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    entry: ServedRequest,
    record: FileRecord,
    headers: Record<string, string>,
  ): void {
    let data = record.content;
    if (corrupted.has(record.key)) {
      data = Buffer.from(data);
      data[0] = (data[0] ?? 0) ^ 0xff;
    }
    const size = data.length;
    let start = 0;
    let end = size - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(Number(range[2]), size - 1);
      if (start >= size || start > end) {
        entry.status = 416;
        res.writeHead(416, { 'content-range': `bytes */${size}`, 'content-length': '0' });
        res.end();
        return;
      }
      status = 206;
    }
    const body = data.subarray(start, end + 1);
    entry.status = status;
    res.writeHead(status, {
      'content-type': 'application/octet-stream',
      'content-length': String(body.length),
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}),
      ...headers,
    });
    if (req.method === 'HEAD') {
      res.end();
      return;
    }
    const count = (n: number): void => {
      bytes.set(record.key, (bytes.get(record.key) ?? 0) + n);
    };
    const cut = cuts.get(record.key);
    if (cut !== undefined) {
      cuts.delete(record.key);
      const part = body.subarray(0, Math.min(cut, body.length));
      count(part.length);
      // Let the client read the part before the connection drops: a stream that errors discards
      // chunks not yet read (WHATWG streams), which would blur the byte counts.
      res.write(part, () => setTimeout(() => res.socket?.destroy(), 100));
      return;
    }
    const pause = slowed.get(record.key);
    if (pause !== undefined && body.length > 1) {
      const half = Math.floor(body.length / 2);
      count(half);
      res.write(body.subarray(0, half));
      setTimeout(() => {
        count(body.length - half);
        res.end(body.subarray(half));
      }, pause);
      return;
    }
    count(body.length);
    res.end(body);
  }

  return {
    endpoint,
    cdnOrigin,
    requests,
    bytesServed: (repo, path) => bytes.get(`${repo}:${path}`) ?? 0,
    cutAfter: (repo, path, n) => void cuts.set(`${repo}:${path}`, n),
    corrupt: (repo, path, on = true) => void (on ? corrupted.add(`${repo}:${path}`) : corrupted.delete(`${repo}:${path}`)),
    slow: (repo, path, ms) => void slowed.set(`${repo}:${path}`, ms),
    cdnMode: (m) => {
      mode = m;
    },
    addRepo,
    reset: () => {
      requests.length = 0;
      bytes.clear();
    },
    close: async () => {
      for (const server of [hub, cdn]) server.closeAllConnections();
      await Promise.all([hub, cdn].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}

function listen(server: http.Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
}
