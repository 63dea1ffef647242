/**
 * Snapshot entries: `snapshots/<commit>/<path>`, a relative symlink to `blobs/<etag>` (a plain copy
 * where the file system has no symlinks), and the blobs they point at.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { isNoEntry } from './hub-cache.js';

/** Where the entry of `file` at `commit` lives in the repo folder. */
export function pointerPath(repoDir: string, commit: string, file: string): string {
  return path.join(repoDir, 'snapshots', commit, ...file.split('/'));
}

/** The blob behind a snapshot entry (a symlink into blobs/, or a plain copy where symlinks fail). */
export async function cachedBlob(pointer: string): Promise<{ blobPath: string; etag: string } | undefined> {
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

/** True when the blob is there in full (its size checked where the Hub said it). */
export async function blobPresent(blobPath: string, size: number | undefined): Promise<boolean> {
  try {
    const stat = await fs.stat(blobPath);
    return stat.isFile() && (size === undefined || stat.size === size);
  } catch (error) {
    if (isNoEntry(error)) return false;
    throw error;
  }
}

/** snapshots/<commit>/<path> → ../../blobs/<etag> (relative, so the cache can move), replaced atomically. */
export async function linkPointer(blobPath: string, pointer: string): Promise<void> {
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
