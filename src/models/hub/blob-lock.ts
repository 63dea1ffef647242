/**
 * The per-blob lock `blobs/<etag>.lock`: two processes pulling the same file take turns. Created
 * with O_EXCL, kept fresh by a heartbeat, taken over when its owner is dead or it went stale.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sleep } from './abortable-sleep.js';
import { isNoEntry } from './hub-cache.js';
import { diskOp } from './hub-errors.js';

interface LockInfo {
  pid: number;
  hostname: string;
  token: string;
  createdAt: string;
}

/** Signal 0 only checks: EPERM means the process lives but belongs to another user. */
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
      await removeIfUnchanged(lockPath, content);
    },
  };
}

/** Deletes the lock when its owner (on this host) is dead or it was not refreshed for `staleMs`. */
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
  await removeIfUnchanged(lockPath, content);
}

/** Compare-and-delete: only the lock that holds `content`, not one another process has taken since. */
async function removeIfUnchanged(lockPath: string, content: string): Promise<void> {
  try {
    if ((await fs.readFile(lockPath, 'utf8')) === content) await fs.rm(lockPath, { force: true });
  } catch (error) {
    if (!isNoEntry(error)) throw error;
  }
}
