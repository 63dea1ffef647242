/**
 * Downloads one file of a Hugging Face repo into the hub cache (hub-cache.ts describes the layout),
 * the way huggingface_hub's hf_hub_download does: a HEAD for the metadata (commit, etag, size, the
 * CDN location), a GET that resumes `blobs/<etag>.incomplete` with Range, a check of the bytes
 * against the etag (sha256 for LFS files, git blob sha1 for regular files) and the manifest's
 * sha256, an atomic rename into blobs/, a relative symlink in snapshots/<commit>/ and refs/<revision>.
 *
 * Two processes pulling the same file take turns on `blobs/<etag>.lock` (blob-lock.ts).
 *
 * Errors are HubError (hub-errors.ts), each saying what to do.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fetchResumable, type FetchOptions } from './blob-fetch.js';
import { acquireLock } from './blob-lock.js';
import { checkManifest, manifestMismatch, SHA256_RE, verifyDownload } from './blob-verify.js';
import { isCommitHash, repoCacheDir, writeRef } from './hub-cache.js';
import { type HubContext, type HubFileRequest, hubContext, validateFileRequest } from './hub-context.js';
import { diskOp, HubError } from './hub-errors.js';
import { fetchMetadata, type HubFileMetadata } from './hub-http.js';
import { blobPresent, cachedBlob, linkPointer, pointerPath } from './snapshot-link.js';

export interface DownloadFileOptions extends HubFileRequest, FetchOptions {
  cacheDir: string;
  /** The manifest's sha256 of the file; checked in addition to the Hub's etag. */
  expectedSha256?: string | undefined;
  /** Fail with 'commit_changed' unless the Hub answers this commit (one snapshot per pull). */
  expectedCommit?: string | undefined;
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

/** Downloads one file of a repo into the cache (or finds it there) and links it into its snapshot. */
export async function downloadFile(options: DownloadFileOptions): Promise<DownloadFileResult> {
  const { repo, revision, cacheDir, signal } = options;
  const file = options.path;
  validateFileRequest(options);
  if (options.expectedSha256 !== undefined && !SHA256_RE.test(options.expectedSha256)) {
    throw new HubError('invalid', `the manifest's sha256 for ${file} is not 64 lower-case hex digits: '${options.expectedSha256}'`);
  }
  const ctx = hubContext(options);
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

/** Downloads into `<blob>.incomplete` (resuming it), verifies, renames to the blob. Returns bytes fetched. */
async function downloadBlob(ctx: HubContext, meta: HubFileMetadata, blobPath: string, options: DownloadFileOptions): Promise<number> {
  const incomplete = `${blobPath}.incomplete`;
  const fetched = await fetchResumable(ctx, meta, incomplete, options);
  await verifyDownload(ctx, meta, incomplete, options.expectedSha256);
  await diskOp(path.dirname(blobPath), () => fs.rename(incomplete, blobPath));
  return fetched;
}
