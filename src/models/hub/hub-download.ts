/**
 * Downloads one file of a Hugging Face repo into the hub cache (hub-cache.ts describes the layout),
 * the way huggingface_hub's hf_hub_download does: a HEAD for the metadata (commit, etag, size, the
 * CDN location), a GET that resumes `blobs/<etag>.incomplete` with Range, a check of the bytes
 * against the etag (sha256 for LFS files, git blob sha1 for regular files) and the manifest's
 * sha256, an atomic rename into blobs/, a relative symlink in snapshots/<commit>/ and refs/<revision>.
 *
 * Two processes pulling the same file take turns on `blobs/<etag>.lock` (created with O_EXCL, kept
 * fresh by a heartbeat, taken over when its owner is dead or it went stale).
 *
 * Errors are HubError (not ApiError: these are CLI / start-up errors), each saying what to do.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  isCommitHash,
  isNoEntry,
  repoCacheDir,
  validateRepoId,
  validateRepoPath,
  validateRevision,
  writeRef,
} from './hub-cache.js';

export type HubErrorKind =
  /** DNS failure, connection refused or timed out: the Hub (or its CDN) cannot be reached. */
  | 'offline'
  /** 401/403: gated or private repo, or a token without access / an invalid token. */
  | 'unauthorized'
  /** 404 (or the Hub's 401 RepoNotFound): wrong repo, revision or file. */
  | 'not_found'
  /** ENOSPC / EDQUOT, or less free space than the file needs; the .incomplete file is kept. */
  | 'disk_full'
  /** The bytes do not match the etag or the manifest's sha256; the bad file was deleted. */
  | 'checksum'
  /** The connection dropped mid-file and the retries ran out; the .incomplete file is kept. */
  | 'interrupted'
  /** The Hub answered another commit than the rest of the snapshot (the branch moved mid-pull). */
  | 'commit_changed'
  /** A repo id, revision or path that is not valid. */
  | 'invalid'
  /** Any other HTTP failure (5xx, 429, a server that is not a Hub). */
  | 'http';

export class HubError extends Error {
  readonly kind: HubErrorKind;
  /** The HTTP status, where the error came from an answer. */
  readonly status: number | undefined;
  /** The URL that failed, where there was one. */
  readonly url: string | undefined;
  /** The Hub's X-Error-Code (RepoNotFound, RevisionNotFound, EntryNotFound, GatedRepo). */
  readonly errorCode: string | undefined;
  /** The X-Repo-Commit of the failing answer (the Hub sends it with EntryNotFound). */
  readonly commit: string | undefined;

  constructor(
    kind: HubErrorKind,
    message: string,
    options?: { cause?: unknown; status?: number; url?: string; errorCode?: string; commit?: string },
  ) {
    super(message, { cause: options?.cause });
    this.name = 'HubError';
    this.kind = kind;
    this.status = options?.status;
    this.url = options?.url;
    this.errorCode = options?.errorCode;
    this.commit = options?.commit;
  }
}

export interface DownloadProgress {
  path: string;
  /** Bytes of the file on disk so far (resumed bytes included). */
  downloaded: number;
  total: number | undefined;
}

export interface DownloadFileOptions {
  /** The Hub, e.g. https://huggingface.co (HF_ENDPOINT). */
  endpoint: string;
  /** HF_TOKEN: sent as `Authorization: Bearer` to the endpoint's origin only, never to a CDN. */
  token?: string | undefined;
  repo: string;
  /** A branch, tag or 40-hex commit. */
  revision: string;
  /** The file's path in the repo, '/'-separated. */
  path: string;
  cacheDir: string;
  /** The manifest's sha256 of the file; checked in addition to the Hub's etag. */
  expectedSha256?: string | undefined;
  /** Fail with 'commit_changed' unless the Hub answers this commit (one snapshot per pull). */
  expectedCommit?: string | undefined;
  signal?: AbortSignal | undefined;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
  fetchImpl?: typeof fetch | undefined;
  /** Resumed retries after a dropped connection (default 3). */
  maxRetries?: number | undefined;
  /** A lock file untouched this long is taken over (default 60 s; its owner refreshes it every quarter). */
  lockStaleMs?: number | undefined;
}

export interface DownloadFileResult {
  commit: string;
  /** snapshots/<commit>/<path>: a relative symlink to the blob. */
  snapshotPath: string;
  blobPath: string;
  /** Bytes fetched by this call (0 when the file was already in the cache). */
  bytesDownloaded: number;
}

export interface HubFileMetadata {
  /** X-Repo-Commit: the commit the revision resolved to. */
  commit: string;
  /** X-Linked-Etag (LFS: the sha256) or ETag (regular files: the git blob sha1), unquoted. */
  etag: string;
  size: number | undefined;
  /** Where to GET the bytes: the CDN location of an LFS file, else the commit-pinned resolve URL. */
  location: string;
  /** True when the Hub sent X-Linked-Etag (an LFS file, whose etag is its sha256). */
  lfs: boolean;
}
type FileMetadata = HubFileMetadata;

const SHA256_RE = /^[0-9a-f]{64}$/;
const SHA1_RE = /^[0-9a-f]{40}$/;
const SAFE_ETAG_RE = /^[A-Za-z0-9_-][\w.-]*$/;
const MAX_REDIRECTS = 10;

/** `<endpoint>/<repo>/resolve/<revision>/<path>`, revision fully encoded, path per segment (as huggingface_hub). */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  const base = endpoint.replace(/\/+$/, '');
  const encodedPath = file.split('/').map(encodeURIComponent).join('/');
  return `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

export async function downloadFile(options: DownloadFileOptions): Promise<DownloadFileResult> {
  const { repo, revision, cacheDir, signal } = options;
  const file = options.path;
  try {
    validateRepoId(repo);
    validateRevision(revision);
    validateRepoPath(file);
  } catch (error) {
    throw new HubError('invalid', (error as Error).message);
  }
  if (options.expectedSha256 !== undefined && !SHA256_RE.test(options.expectedSha256)) {
    throw new HubError('invalid', `the manifest's sha256 for ${file} is not 64 lower-case hex digits: '${options.expectedSha256}'`);
  }
  const ctx: Context = {
    endpoint: options.endpoint.replace(/\/+$/, ''),
    endpointOrigin: originOf(options.endpoint),
    token: options.token || undefined,
    repo,
    revision,
    file,
    signal,
    fetchImpl: options.fetchImpl ?? fetch,
  };
  const repoDir = repoCacheDir(cacheDir, repo);
  const blobsDir = path.join(repoDir, 'blobs');

  // A commit-pinned file already in its snapshot needs no network at all (as in huggingface_hub).
  if (isCommitHash(revision)) {
    const pointer = pointerPath(repoDir, revision, file);
    const cached = await cachedBlob(pointer);
    if (cached) {
      await checkManifest(ctx, cached.blobPath, cached.etag, options.expectedSha256, revision);
      return { commit: revision, snapshotPath: pointer, blobPath: cached.blobPath, bytesDownloaded: 0 };
    }
  }

  const meta = await fetchMetadata(ctx);
  if (options.expectedCommit !== undefined && meta.commit !== options.expectedCommit) {
    throw new HubError(
      'commit_changed',
      `the Hub answered commit ${meta.commit} for ${repo}/${file}, but the rest of this pull is at ${options.expectedCommit} ` +
        `('${revision}' moved during the pull?): run the pull again, or pin the revision to a commit`,
    );
  }
  // The Hub's X-Linked-Etag of an LFS file is its sha256: a manifest that disagrees fails before any byte moves.
  if (options.expectedSha256 !== undefined && SHA256_RE.test(meta.etag) && meta.etag !== options.expectedSha256) {
    throw manifestMismatch(ctx, meta.commit, options.expectedSha256, meta.etag, 'the Hub (X-Linked-Etag)');
  }

  const blobPath = path.join(blobsDir, meta.etag);
  const pointer = pointerPath(repoDir, meta.commit, file);
  let bytesDownloaded = 0;

  await diskOp(blobsDir, () => fs.mkdir(blobsDir, { recursive: true }));
  if (!(await blobPresent(blobPath, meta.size))) {
    const lock = await acquireLock(`${blobPath}.lock`, options.lockStaleMs ?? 60_000, signal);
    try {
      // Another process may have finished this blob while we waited for the lock.
      if (!(await blobPresent(blobPath, meta.size))) {
        bytesDownloaded = await downloadBlob(ctx, meta, blobPath, options);
      }
    } finally {
      await lock.release();
    }
  }
  await checkManifest(ctx, blobPath, meta.etag, options.expectedSha256, meta.commit);
  await diskOp(path.dirname(pointer), () => linkPointer(blobPath, pointer));
  if (!isCommitHash(revision)) await diskOp(repoDir, () => writeRef(cacheDir, repo, revision, meta.commit));
  return { commit: meta.commit, snapshotPath: pointer, blobPath, bytesDownloaded };
}

/**
 * The Hub's metadata of one file (one HEAD, redirects not followed): the commit the revision
 * resolves to, the etag (the sha256 of an LFS file), the size and where the bytes are.
 */
export async function fetchFileMetadata(options: {
  endpoint: string;
  token?: string | undefined;
  repo: string;
  revision: string;
  path: string;
  signal?: AbortSignal | undefined;
  fetchImpl?: typeof fetch | undefined;
}): Promise<HubFileMetadata> {
  try {
    validateRepoId(options.repo);
    validateRevision(options.revision);
    validateRepoPath(options.path);
  } catch (error) {
    throw new HubError('invalid', (error as Error).message);
  }
  return fetchMetadata({
    endpoint: options.endpoint.replace(/\/+$/, ''),
    endpointOrigin: originOf(options.endpoint),
    token: options.token || undefined,
    repo: options.repo,
    revision: options.revision,
    file: options.path,
    signal: options.signal,
    fetchImpl: options.fetchImpl ?? fetch,
  });
}

/**
 * Checks a cached file (a snapshot entry) against a manifest sha256 without downloading: free for
 * LFS blobs (named by their sha256), a hash of the file otherwise. Throws a 'checksum' HubError.
 */
export async function verifyCachedFile(snapshotFile: string, expectedSha256: string, label: string): Promise<void> {
  const cached = await cachedBlob(snapshotFile);
  if (!cached) throw new HubError('not_found', `${label} is not in the cache (${snapshotFile})`);
  const got = SHA256_RE.test(cached.etag) ? cached.etag : await hashFile(cached.blobPath, 'sha256');
  if (got !== expectedSha256) {
    throw new HubError(
      'checksum',
      `${label}: the cached file's sha256 is ${got} but the manifest says ${expectedSha256}: ` +
        `the manifest and the cached revision disagree; pin the revision the manifest was made for, or update the manifest`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP

interface Context {
  endpoint: string;
  endpointOrigin: string;
  token: string | undefined;
  repo: string;
  revision: string;
  file: string;
  signal: AbortSignal | undefined;
  fetchImpl: typeof fetch;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new HubError('invalid', `HF_ENDPOINT '${url}' is not a URL (expected e.g. https://huggingface.co)`);
  }
}

/** One request without following redirects; Authorization only for the endpoint's own origin. */
async function request(ctx: Context, method: 'HEAD' | 'GET', url: string, extra: Record<string, string> = {}): Promise<Response> {
  // identity: the Hub gzips small files otherwise, and Content-Length / Range would count gzip bytes.
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...extra };
  if (ctx.token && originOf(url) === ctx.endpointOrigin) headers.authorization = `Bearer ${ctx.token}`;
  try {
    return await ctx.fetchImpl(url, { method, headers, redirect: 'manual', signal: ctx.signal });
  } catch (error) {
    throw networkError(ctx, error, url);
  }
}

function isRedirect(res: Response): boolean {
  return res.status >= 300 && res.status < 400 && res.headers.has('location');
}

function normalizeEtag(etag: string | null): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

function intHeader(res: Response, name: string): number | undefined {
  const value = res.headers.get(name);
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}

/**
 * HEAD `/<repo>/resolve/<revision>/<path>` without following redirects, reading the metadata from
 * the first answer that has it: the Hub's 302 to the CDN carries X-Repo-Commit, X-Linked-Etag and
 * X-Linked-Size. A redirect without metadata on the Hub's own origin (a renamed repo) is followed.
 */
async function fetchMetadata(ctx: Context): Promise<FileMetadata> {
  let url = resolveUrl(ctx.endpoint, ctx.repo, ctx.revision, ctx.file);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(ctx, 'HEAD', url);
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 400) throw statusError(ctx, res, url);
    const commit = res.headers.get('x-repo-commit') ?? undefined;
    const linkedEtag = normalizeEtag(res.headers.get('x-linked-etag'));
    const etag = linkedEtag ?? normalizeEtag(res.headers.get('etag'));
    const redirect = isRedirect(res) ? new URL(res.headers.get('location') as string, url).href : undefined;
    if (commit && etag) {
      if (!isCommitHash(commit)) throw notAHub(ctx, url, `X-Repo-Commit '${commit}' is not a commit hash`);
      if (!SAFE_ETAG_RE.test(etag)) throw notAHub(ctx, url, `its ETag '${etag}' cannot name a file`);
      const lfs = linkedEtag !== undefined;
      let size = intHeader(res, 'x-linked-size');
      if (size === undefined && !lfs && !redirect && !res.headers.has('content-encoding')) {
        size = intHeader(res, 'content-length');
      }
      return {
        commit,
        etag,
        size,
        lfs,
        // Pin the GET to the commit the HEAD answered, so the bytes match the etag.
        location: redirect ?? resolveUrl(ctx.endpoint, ctx.repo, commit, ctx.file),
      };
    }
    if (redirect && originOf(redirect) === ctx.endpointOrigin) {
      url = redirect;
      continue;
    }
    throw notAHub(ctx, url, 'the answer has no X-Repo-Commit and ETag headers');
  }
  throw new HubError('http', `too many redirects for ${ctx.repo}/${ctx.file} from ${ctx.endpoint}`);
}

function notAHub(ctx: Context, url: string, why: string): HubError {
  return new HubError(
    'http',
    `${url}: ${why}, so the download cannot be verified: is HF_ENDPOINT (${ctx.endpoint}) a Hugging Face Hub or a mirror that keeps its headers?`,
    { url },
  );
}

/** GET following redirects by hand, so the token never leaves the endpoint's origin. */
async function getFollowing(ctx: Context, url: string, extra: Record<string, string>): Promise<{ res: Response; url: string }> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(ctx, 'GET', current, extra);
    if (!isRedirect(res)) return { res, url: current };
    await res.body?.cancel().catch(() => undefined);
    current = new URL(res.headers.get('location') as string, current).href;
  }
  throw new HubError('http', `too many redirects downloading ${ctx.repo}/${ctx.file} (last: ${current})`, { url: current });
}

const OFFLINE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ECONNREFUSED',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

function errorCodes(error: unknown, depth = 0): string[] {
  if (!error || typeof error !== 'object' || depth > 5) return [];
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...errorCodes(e.cause, depth + 1), ...nested];
}

function abortReason(ctx: Context, error: unknown): unknown {
  return ctx.signal?.aborted ? (ctx.signal.reason ?? error) : undefined;
}

function networkError(ctx: Context, error: unknown, url: string): unknown {
  const aborted = abortReason(ctx, error);
  if (aborted !== undefined) return aborted;
  if (error instanceof HubError) return error;
  const codes = errorCodes(error);
  const code = codes.find((c) => OFFLINE_CODES.has(c)) ?? codes[0];
  const host = new URL(url).host;
  const what = originOf(url) === ctx.endpointOrigin ? ctx.endpoint : `${host} (where the Hub stores large files)`;
  if (code === undefined || OFFLINE_CODES.has(code)) {
    return new HubError(
      'offline',
      `cannot reach ${what}${code ? ` (${code})` : ''}: are you offline? Check the network or proxy, or set HF_ENDPOINT for a mirror`,
      { cause: error, url },
    );
  }
  return new HubError('interrupted', `the connection to ${host} failed (${code}) for ${ctx.repo}/${ctx.file}: run the pull again`, {
    cause: error,
    url,
  });
}

function statusError(ctx: Context, res: Response, url: string): HubError {
  const errorCode = res.headers.get('x-error-code') ?? undefined;
  const hubMessage = res.headers.get('x-error-message') ?? undefined;
  const commit = res.headers.get('x-repo-commit') ?? undefined;
  const status = res.status;
  const details = { status, url, errorCode, commit };
  const { repo, revision, file, endpoint } = ctx;
  const repoPage = `${endpoint}/${repo}`;
  const onHub = originOf(url) === ctx.endpointOrigin;
  const tokenHint = ctx.token ? '' : ', or set HF_TOKEN if it is a private repo';
  const fail = (kind: HubErrorKind, message: string): HubError => new HubError(kind, message, details);

  if (!onHub && (status === 401 || status === 403)) {
    return fail('http', `the file store refused ${repo}/${file} (${status}, the download link may have expired): run the pull again`);
  }
  if (status === 401 || status === 403) {
    if (hubMessage?.startsWith('Invalid credentials') || hubMessage?.startsWith('Invalid user token')) {
      return fail(
        'unauthorized',
        `the Hub rejected HF_TOKEN as invalid (${status}): create a read token at ${endpoint}/settings/tokens and set HF_TOKEN to it`,
      );
    }
    if (errorCode === 'RepoNotFound') {
      return fail('not_found', `repository '${repo}' was not found on ${endpoint}: check the repo id (org/name)${tokenHint}`);
    }
    if (ctx.token) {
      return fail(
        'unauthorized',
        `'${repo}' is gated or private and HF_TOKEN has no access to it (${status}): accept its terms at ${repoPage} ` +
          `with the account the token belongs to (gated access may need approval), or set HF_TOKEN to a token of an account with access`,
      );
    }
    return fail(
      'unauthorized',
      `'${repo}' is gated or private (${status}): accept its terms on the Hub at ${repoPage} ` +
        `and set HF_TOKEN to a read token (${endpoint}/settings/tokens)`,
    );
  }
  if (status === 404) {
    if (errorCode === 'RepoNotFound') {
      return fail('not_found', `repository '${repo}' was not found on ${endpoint}: check the repo id (org/name)${tokenHint}`);
    }
    if (errorCode === 'RevisionNotFound') {
      return fail('not_found', `revision '${revision}' was not found in '${repo}': check the branch, tag or commit hash`);
    }
    if (errorCode === 'EntryNotFound') {
      return fail(
        'not_found',
        `file '${file}' was not found in '${repo}' at revision '${revision}': check the path ` +
          `(the files are listed at ${repoPage}/tree/${encodeURIComponent(revision)})`,
      );
    }
    return fail('not_found', `${url} was not found (404): check the repo id '${repo}', the revision '${revision}' and the file '${file}'`);
  }
  if (status === 429) {
    const hint = ctx.token ? '' : ', or set HF_TOKEN (signed-in users get higher limits)';
    return fail('http', `the Hub rate-limited this download (429): wait a few minutes and run the pull again${hint}`);
  }
  if (status >= 500) {
    const who = onHub ? endpoint : new URL(url).host;
    return fail('http', `${who} answered ${status} for ${repo}/${file}: the Hub is having trouble, try again later (or set HF_ENDPOINT to a mirror)`);
  }
  return fail('http', `${url} answered ${status} ${res.statusText}${hubMessage ? ` (${hubMessage})` : ''}`);
}

// ---------------------------------------------------------------------------------------------
// Download, verify, store

/** Downloads into `<blob>.incomplete` (resuming it), verifies, renames to the blob. Returns bytes fetched. */
async function downloadBlob(ctx: Context, meta: FileMetadata, blobPath: string, options: DownloadFileOptions): Promise<number> {
  const incomplete = `${blobPath}.incomplete`;
  const blobsDir = path.dirname(blobPath);
  const maxRetries = options.maxRetries ?? 3;
  let fetched = 0;
  for (let attempt = 0; ; attempt++) {
    try {
      await fetchInto(ctx, meta, incomplete, options.onProgress, (n) => (fetched += n));
      break;
    } catch (error) {
      const retriable = error instanceof HubError && error.kind === 'interrupted' && !ctx.signal?.aborted;
      if (!retriable || attempt >= maxRetries) throw error;
      await sleep(Math.min(200 * 2 ** attempt, 2000), ctx.signal);
    }
  }
  await verifyDownload(ctx, meta, incomplete, options.expectedSha256);
  await diskOp(blobsDir, () => fs.rename(incomplete, blobPath));
  return fetched;
}

/**
 * One GET into the .incomplete file, streaming the bytes and counting them through `count` as they
 * land (so a retry after a dropped connection still reports the true total fetched).
 */
async function fetchInto(
  ctx: Context,
  meta: FileMetadata,
  incomplete: string,
  onProgress: DownloadFileOptions['onProgress'],
  count: (n: number) => void,
): Promise<void> {
  const blobsDir = path.dirname(incomplete);
  let have = await fileSize(incomplete);
  if (meta.size !== undefined && have > meta.size) {
    await fs.rm(incomplete, { force: true });
    have = 0;
  }
  if (meta.size !== undefined && have === meta.size) return; // complete but not yet renamed (crash before the rename)
  if (meta.size !== undefined) await checkFreeSpace(blobsDir, meta.size - have, ctx);

  const { res, url } = await getFollowing(ctx, meta.location, have > 0 ? { range: `bytes=${have}-` } : {});
  let append = have > 0;
  if (res.status === 416 && have > 0) {
    // Our partial file does not fit the remote one: start over.
    await res.body?.cancel().catch(() => undefined);
    await fs.rm(incomplete, { force: true });
    throw new HubError('interrupted', `the server refused to resume ${ctx.repo}/${ctx.file} at byte ${have}: starting over`, { url, status: 416 });
  }
  if (res.status >= 400) {
    await res.body?.cancel().catch(() => undefined);
    throw statusError(ctx, res, url);
  }
  if (res.status === 206) {
    const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(res.headers.get('content-range') ?? '');
    if (!range || Number(range[1]) !== have) {
      await res.body?.cancel().catch(() => undefined);
      await fs.rm(incomplete, { force: true });
      throw new HubError('interrupted', `the server resumed ${ctx.repo}/${ctx.file} at the wrong offset: starting over`, { url, status: 206 });
    }
  } else if (have > 0) {
    append = false; // 200 to a Range request: the server sends the whole file again
    have = 0;
  }
  const bodyLength = res.headers.has('content-encoding') ? undefined : intHeader(res, 'content-length');
  const total = meta.size ?? (bodyLength !== undefined ? have + bodyLength : undefined);
  onProgress?.({ path: ctx.file, downloaded: have, total });

  const handle = await diskOp(blobsDir, () => fs.open(incomplete, append ? 'a' : 'w'));
  let written = have;
  try {
    if (!res.body) throw new HubError('interrupted', `empty answer for ${ctx.repo}/${ctx.file}`, { url });
    const reader = res.body.getReader();
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        const aborted = abortReason(ctx, error);
        if (aborted !== undefined) throw aborted;
        throw new HubError(
          'interrupted',
          `the connection dropped after ${formatBytes(written)}${total !== undefined ? ` of ${formatBytes(total)}` : ''} of ${ctx.repo}/${ctx.file}: ` +
            `run the pull again to resume (the partial file ${incomplete} is kept)`,
          { cause: error, url },
        );
      }
      if (chunk.done) break;
      await diskOp(blobsDir, () => handle.write(chunk.value));
      written += chunk.value.byteLength;
      count(chunk.value.byteLength);
      onProgress?.({ path: ctx.file, downloaded: written, total });
    }
  } finally {
    await handle.close().catch(() => undefined);
  }
  if (total !== undefined && written < total) {
    throw new HubError(
      'interrupted',
      `the connection closed after ${formatBytes(written)} of ${formatBytes(total)} of ${ctx.repo}/${ctx.file}: run the pull again to resume`,
      { url },
    );
  }
}

async function verifyDownload(ctx: Context, meta: FileMetadata, file: string, expectedSha256: string | undefined): Promise<void> {
  const size = await fileSize(file);
  const fail = (what: string, got: string, expected: string, source: string): never => {
    throw new HubError(
      'checksum',
      `${ctx.repo}/${ctx.file}@${meta.commit.slice(0, 12)}: the downloaded file's ${what} is ${got} but ${source} says ${expected}; ` +
        `the file was deleted. Run the pull again; if it fails again, the file served by ${new URL(meta.location).host} is corrupted` +
        (source.startsWith('the manifest') ? ` or the manifest's sha256 is out of date` : ''),
    );
  };
  try {
    if (meta.size !== undefined && size !== meta.size) fail('size', `${size} bytes`, `${meta.size} bytes`, 'the Hub');
    const needSha256 = expectedSha256 !== undefined || SHA256_RE.test(meta.etag);
    const sha256 = needSha256 ? await hashFile(file, 'sha256') : undefined;
    if (SHA256_RE.test(meta.etag) && sha256 !== meta.etag) {
      fail('sha256', sha256 as string, meta.etag, meta.lfs ? 'the Hub (X-Linked-Etag)' : 'the Hub (ETag)');
    } else if (SHA1_RE.test(meta.etag)) {
      const sha1 = await hashFile(file, 'sha1', `blob ${size}\0`);
      if (sha1 !== meta.etag) fail('git blob sha1', sha1, meta.etag, 'the Hub (ETag)');
    }
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) fail('sha256', sha256 as string, expectedSha256, 'the manifest');
  } catch (error) {
    if (error instanceof HubError && error.kind === 'checksum') await fs.rm(file, { force: true });
    throw error;
  }
}

/** After the blob is in place: a manifest sha256 that disagrees with it fails (the blob is the Hub's truth). */
async function checkManifest(ctx: Context, blobPath: string, etag: string, expected: string | undefined, commit: string): Promise<void> {
  if (expected === undefined) return;
  const got = SHA256_RE.test(etag) ? etag : await hashFile(blobPath, 'sha256');
  if (got !== expected) throw manifestMismatch(ctx, commit, expected, got, 'the cached file');
}

function manifestMismatch(ctx: Context, commit: string, expected: string, got: string, source: string): HubError {
  return new HubError(
    'checksum',
    `${ctx.repo}/${ctx.file}@${commit.slice(0, 12)}: the manifest expects sha256 ${expected} but ${source} has ${got}: ` +
      `the manifest was made for another version of this file; pin the revision it was made for, or update its sha256`,
  );
}

export async function hashFile(file: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix !== undefined) hash.update(prefix);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

function pointerPath(repoDir: string, commit: string, file: string): string {
  return path.join(repoDir, 'snapshots', commit, ...file.split('/'));
}

/** The blob behind a snapshot entry (a symlink into blobs/, or a plain copy where symlinks fail). */
async function cachedBlob(pointer: string): Promise<{ blobPath: string; etag: string } | undefined> {
  let stat;
  try {
    stat = await fs.lstat(pointer);
  } catch (error) {
    if (isNoEntry(error)) return undefined;
    throw error;
  }
  if (stat.isSymbolicLink()) {
    const blobPath = path.resolve(path.dirname(pointer), await fs.readlink(pointer));
    try {
      if (!(await fs.stat(blobPath)).isFile()) return undefined;
    } catch (error) {
      if (isNoEntry(error)) return undefined;
      throw error;
    }
    return { blobPath, etag: path.basename(blobPath) };
  }
  return stat.isFile() ? { blobPath: pointer, etag: '' } : undefined;
}

async function blobPresent(blobPath: string, size: number | undefined): Promise<boolean> {
  try {
    const stat = await fs.stat(blobPath);
    return stat.isFile() && (size === undefined || stat.size === size);
  } catch (error) {
    if (isNoEntry(error)) return false;
    throw error;
  }
}

/** snapshots/<commit>/<path> → ../../blobs/<etag> (relative, so the cache can move), replaced atomically. */
async function linkPointer(blobPath: string, pointer: string): Promise<void> {
  await fs.mkdir(path.dirname(pointer), { recursive: true });
  const target = path.relative(path.dirname(pointer), blobPath);
  try {
    if ((await fs.readlink(pointer)) === target) return;
  } catch {
    // missing, or not a symlink: (re)create below
  }
  const tmp = `${pointer}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    await fs.symlink(target, tmp);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw error;
    await fs.copyFile(blobPath, tmp); // no symlinks here (as huggingface_hub: a degraded cache with copies)
  }
  await fs.rename(tmp, pointer);
}

async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (error) {
    if (isNoEntry(error)) return 0;
    throw error;
  }
}

/** Runs a file-system step, turning ENOSPC / EDQUOT into a 'disk_full' HubError that names the folder. */
async function diskOp<T>(dir: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOSPC' || code === 'EDQUOT') {
      throw new HubError(
        'disk_full',
        `no space left on the disk of ${dir} (${code}): free some space or point HF_HUB_CACHE (or HF_HOME) at a bigger disk, ` +
          `then run the pull again; a partial download is kept and resumes`,
        { cause: error },
      );
    }
    throw error;
  }
}

async function checkFreeSpace(dir: string, needed: number, ctx: Context): Promise<void> {
  let free: number;
  try {
    const stats = await fs.statfs(dir);
    free = Number(stats.bavail) * Number(stats.bsize);
  } catch {
    return; // unknown: find out when writing
  }
  if (free < needed) {
    throw new HubError(
      'disk_full',
      `${ctx.repo}/${ctx.file} needs ${formatBytes(needed)} more but only ${formatBytes(free)} are free on the disk of ${dir}: ` +
        `free some space or point HF_HUB_CACHE (or HF_HOME) at a bigger disk, then run the pull again`,
    );
  }
}

export function formatBytes(n: number): string {
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  if (n < 1e9) return `${(n / 1e6).toFixed(1)} MB`;
  return `${(n / 1e9).toFixed(2)} GB`;
}

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

// ---------------------------------------------------------------------------------------------
// The per-blob lock

interface LockInfo {
  pid: number;
  hostname: string;
  token: string;
  createdAt: string;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes `lockPath` with O_EXCL. While held, a heartbeat refreshes its mtime; a waiter takes it over
 * when its owner (same host) is dead or it was not refreshed for `staleMs`.
 */
export async function acquireLock(lockPath: string, staleMs: number, signal?: AbortSignal): Promise<{ release: () => Promise<void> }> {
  const info: LockInfo = {
    pid: process.pid,
    hostname: os.hostname(),
    token: Math.random().toString(36).slice(2) + Date.now().toString(36),
    createdAt: new Date().toISOString(),
  };
  const content = JSON.stringify(info);
  let wait = 25;
  for (;;) {
    if (signal?.aborted) throw signal.reason;
    try {
      await diskOp(path.dirname(lockPath), () => fs.writeFile(lockPath, content, { flag: 'wx' }));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    await removeIfStale(lockPath, staleMs);
    await sleep(wait, signal);
    wait = Math.min(wait * 2, 250);
  }
  const heartbeat = setInterval(() => {
    const now = new Date();
    fs.utimes(lockPath, now, now).catch(() => undefined);
  }, Math.max(50, Math.floor(staleMs / 4)));
  heartbeat.unref();
  return {
    release: async () => {
      clearInterval(heartbeat);
      try {
        if ((await fs.readFile(lockPath, 'utf8')) === content) await fs.rm(lockPath, { force: true });
      } catch (error) {
        if (!isNoEntry(error)) throw error;
      }
    },
  };
}

async function removeIfStale(lockPath: string, staleMs: number): Promise<void> {
  let content: string;
  let mtimeMs: number;
  try {
    content = await fs.readFile(lockPath, 'utf8');
    mtimeMs = (await fs.stat(lockPath)).mtimeMs;
  } catch (error) {
    if (isNoEntry(error)) return;
    throw error;
  }
  let owner: Partial<LockInfo> | undefined;
  try {
    owner = JSON.parse(content) as Partial<LockInfo>;
  } catch {
    owner = undefined; // being written right now, or not ours: only age decides
  }
  const deadOwner = owner?.hostname === os.hostname() && typeof owner.pid === 'number' && !pidAlive(owner.pid);
  const stale = deadOwner || Date.now() - mtimeMs > staleMs;
  if (!stale) return;
  try {
    // Compare-and-delete: only the lock we judged, not one a faster waiter just took.
    if ((await fs.readFile(lockPath, 'utf8')) === content) await fs.rm(lockPath, { force: true });
  } catch (error) {
    if (!isNoEntry(error)) throw error;
  }
}
