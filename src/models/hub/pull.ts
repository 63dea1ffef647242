/**
 * Pulls the files a model needs from one snapshot (one commit) of a Hugging Face repo into the hub
 * cache, file by file through downloadFile. A branch or tag is resolved once, by the first file's
 * answer; the other files are then fetched at that commit (as huggingface_hub's snapshot_download
 * does), so a push during the pull cannot mix two versions. Offline, a complete cached snapshot of
 * the revision is used instead, with a warning.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { verifyCachedFile } from './blob-verify.js';
import { exists, findCachedSnapshot, isCommitHash, noExistPath, snapshotDir, writeRef } from './hub-cache.js';
import { downloadFile } from './hub-download.js';
import { HubError } from './hub-errors.js';
import type { ProgressReporter } from './progress.js';

export interface PullFile {
  path: string;
  /** The manifest's sha256; null or absent: only the Hub's etag is checked. */
  sha256?: string | null | undefined;
  /** A file the model can do without: skipped (and remembered in .no_exist/) when the repo lacks it. */
  optional?: boolean | undefined;
}

export interface PullOptions {
  endpoint: string;
  token?: string | undefined;
  repo: string;
  revision: string;
  files: PullFile[];
  cacheDir: string;
  progress?: ProgressReporter | undefined;
  signal?: AbortSignal | undefined;
  fetchImpl?: typeof fetch | undefined;
  /** Resumed retries per file after a dropped connection (default 3). */
  maxRetries?: number | undefined;
}

export interface PullResult {
  /** snapshots/<commit>: every pulled file is there under its repo path. */
  snapshotDir: string;
  commit: string;
  warnings: string[];
  /** Optional files the repo does not have. */
  skipped: string[];
  /** Bytes fetched by this pull (0 when everything was cached). */
  bytesDownloaded: number;
}

export async function pullFiles(options: PullOptions): Promise<PullResult> {
  const { repo, revision, cacheDir, progress } = options;
  const files = dedupe(options.files);
  if (files.length === 0) throw new HubError('invalid', `nothing to pull from ${repo}: the file list is empty`);
  const warnings: string[] = [];
  const skipped: string[] = [];
  let commit: string | undefined = isCommitHash(revision) ? revision : undefined;
  let bytesDownloaded = 0;
  try {
    for (const file of files) {
      if (commit !== undefined && file.optional && (await exists(noExistPath(cacheDir, repo, commit, file.path)))) {
        skipped.push(file.path);
        continue;
      }
      try {
        const result = await downloadFile({
          endpoint: options.endpoint,
          token: options.token,
          repo,
          revision: commit ?? revision,
          path: file.path,
          cacheDir,
          expectedSha256: file.sha256 ?? undefined,
          expectedCommit: commit,
          signal: options.signal,
          fetchImpl: options.fetchImpl,
          maxRetries: options.maxRetries,
          onProgress: progress ? (p) => progress.update({ repo, ...p }) : undefined,
        });
        commit = result.commit;
        bytesDownloaded += result.bytesDownloaded;
        const total = (await fs.stat(result.blobPath)).size;
        progress?.fileDone({ repo, path: file.path, total, bytesDownloaded: result.bytesDownloaded });
      } catch (error) {
        if (!(file.optional && isMissingFile(error))) throw error;
        const at = commit ?? (error.commit && isCommitHash(error.commit) ? error.commit : undefined);
        if (at !== undefined) {
          commit = at;
          const marker = noExistPath(cacheDir, repo, at, file.path);
          await fs.mkdir(path.dirname(marker), { recursive: true });
          await fs.writeFile(marker, '');
        }
        skipped.push(file.path);
        progress?.log(`pull ${repo} ${file.path}: not in the repo (optional, skipped)`);
      }
    }
    if (commit === undefined) {
      throw new HubError('not_found', `none of the files asked for exist in ${repo} at '${revision}'`);
    }
    if (!isCommitHash(revision)) await writeRef(cacheDir, repo, revision, commit);
  } catch (error) {
    const cached = await offlineFallback(options, files, error);
    if (!cached) throw error;
    commit = cached.commit;
    warnings.push(cached.warning);
  } finally {
    progress?.stop();
  }
  if (!isCommitHash(revision)) {
    warnings.push(
      `revision '${revision}' is not pinned: it resolved to commit ${commit}, and a later pull may get other files; ` +
        `pin the revision to that commit for reproducible pulls`,
    );
  }
  return { snapshotDir: snapshotDir(cacheDir, repo, commit), commit, warnings, skipped, bytesDownloaded };
}

function isMissingFile(error: unknown): error is HubError {
  return (
    error instanceof HubError &&
    error.kind === 'not_found' &&
    error.status === 404 &&
    (error.errorCode === 'EntryNotFound' || error.errorCode === undefined)
  );
}

/** Offline: the cached snapshot of the revision, if it holds every required file (checked against the manifest). */
async function offlineFallback(
  options: PullOptions,
  files: PullFile[],
  error: unknown,
): Promise<{ commit: string; warning: string } | undefined> {
  if (!(error instanceof HubError && error.kind === 'offline')) return undefined;
  const { cacheDir, repo, revision } = options;
  const required = files.filter((f) => !f.optional);
  const dir = await findCachedSnapshot(cacheDir, repo, revision, required.map((f) => f.path));
  if (!dir) return undefined;
  for (const file of required) {
    if (file.sha256) await verifyCachedFile(path.join(dir, ...file.path.split('/')), file.sha256, `${repo}/${file.path}`);
  }
  const commit = path.basename(dir);
  return {
    commit,
    warning:
      `cannot reach ${options.endpoint} (offline?): using the cached snapshot ${commit} of '${revision}'` +
      (isCommitHash(revision) ? '' : ' (it may be out of date)'),
  };
}

function dedupe(files: PullFile[]): PullFile[] {
  const byPath = new Map<string, PullFile>();
  for (const file of files) {
    const seen = byPath.get(file.path);
    // A file both optional and required is required.
    byPath.set(file.path, seen ? { ...seen, ...file, optional: Boolean(seen.optional && file.optional) } : file);
  }
  return [...byPath.values()];
}
