/**
 * The GET of a blob's bytes into `blobs/<etag>.incomplete`: resumed with Range where a partial file
 * is left from an earlier try, retried (resuming) after a dropped connection. Verifying the bytes
 * and renaming them into place is the caller's part.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { sleep } from './abortable-sleep.js';
import { isNoEntry } from './hub-cache.js';
import type { HubContext } from './hub-context.js';
import { diskOp, HubError } from './hub-errors.js';
import { abortReason, statusError } from './hub-http-errors.js';
import { getFollowing, type HubFileMetadata, intHeader } from './hub-http.js';
import { formatBytes } from './progress.js';

export interface DownloadProgress {
  path: string;
  /** Bytes of the file on disk so far (resumed bytes included). */
  downloaded: number;
  total: number | undefined;
}

export interface FetchOptions {
  /** Resumed retries after a dropped connection (default 3). */
  maxRetries?: number | undefined;
  onProgress?: ((p: DownloadProgress) => void) | undefined;
}

/** Fetches the file into `incomplete` (resuming it), retrying 'interrupted' failures. Returns bytes fetched. */
export async function fetchResumable(ctx: HubContext, meta: HubFileMetadata, incomplete: string, options: FetchOptions): Promise<number> {
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
  return fetched;
}

/**
 * One GET into the .incomplete file, streaming the bytes and counting them through `count` as they
 * land (so a retry after a dropped connection still reports the true total fetched).
 */
async function fetchInto(
  ctx: HubContext,
  meta: HubFileMetadata,
  incomplete: string,
  onProgress: FetchOptions['onProgress'],
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

/** Bytes on disk, 0 when the file is missing. */
export async function fileSize(file: string): Promise<number> {
  try {
    return (await fs.stat(file)).size;
  } catch (error) {
    if (isNoEntry(error)) return 0;
    throw error;
  }
}

/** Fails early with 'disk_full' when statfs says the rest of the file cannot fit. */
async function checkFreeSpace(dir: string, needed: number, ctx: HubContext): Promise<void> {
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
