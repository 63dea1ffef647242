/**
 * Checks of a blob's bytes: against the Hub's etag (sha256 for LFS files, git blob sha1 for regular
 * files) and against the manifest's sha256. A download that fails them is deleted.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import { fileSize } from './blob-fetch.js';
import type { HubContext } from './hub-context.js';
import { HubError } from './hub-errors.js';
import type { HubFileMetadata } from './hub-http.js';
import { cachedBlob } from './snapshot-link.js';

export const SHA256_RE = /^[0-9a-f]{64}$/;
const SHA1_RE = /^[0-9a-f]{40}$/;

/** The hex digest of a file; `prefix` is hashed first (the git blob header `blob <size>\0`). */
export async function hashFile(file: string, algorithm: 'sha256' | 'sha1', prefix?: string): Promise<string> {
  const hash = createHash(algorithm);
  if (prefix !== undefined) hash.update(prefix);
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Checks the bytes in `file` (the .incomplete download) against the Hub and the manifest; deletes them on a mismatch. */
export async function verifyDownload(ctx: HubContext, meta: HubFileMetadata, file: string, expectedSha256: string | undefined): Promise<void> {
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
export async function checkManifest(ctx: HubContext, blobPath: string, etag: string, expected: string | undefined, commit: string): Promise<void> {
  if (expected === undefined) return;
  const got = await blobSha256(blobPath, etag);
  if (got !== expected) throw manifestMismatch(ctx, commit, expected, got, 'the cached file');
}

/** The manifest's sha256 disagrees with what `source` says the file is: the manifest is for another version. */
export function manifestMismatch(ctx: HubContext, commit: string, expected: string, got: string, source: string): HubError {
  return new HubError(
    'checksum',
    `${ctx.repo}/${ctx.file}@${commit.slice(0, 12)}: the manifest expects sha256 ${expected} but ${source} has ${got}: ` +
      `the manifest was made for another version of this file; pin the revision it was made for, or update its sha256`,
  );
}

/**
 * Checks a cached file (a snapshot entry) against a manifest sha256 without downloading: free for
 * LFS blobs (named by their sha256), a hash of the file otherwise. Throws a 'checksum' HubError.
 */
export async function verifyCachedFile(snapshotFile: string, expectedSha256: string, label: string): Promise<void> {
  const cached = await cachedBlob(snapshotFile);
  if (!cached) throw new HubError('not_found', `${label} is not in the cache (${snapshotFile})`);
  const got = await blobSha256(cached.blobPath, cached.etag);
  if (got !== expectedSha256) {
    throw new HubError(
      'checksum',
      `${label}: the cached file's sha256 is ${got} but the manifest says ${expectedSha256}: ` +
        `the manifest and the cached revision disagree; pin the revision the manifest was made for, or update the manifest`,
    );
  }
}

/** An LFS blob is named by its sha256, so that costs nothing; any other file is hashed. */
async function blobSha256(blobPath: string, etag: string): Promise<string> {
  return SHA256_RE.test(etag) ? etag : hashFile(blobPath, 'sha256');
}
