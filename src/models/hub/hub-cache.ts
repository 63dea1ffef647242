/**
 * The Hugging Face hub cache layout, shared with huggingface_hub, transformers and the `hf` CLI:
 *
 *   <cache>/models--<org>--<name>/
 *     blobs/<etag>                      file contents, named by sha256 (LFS) or git blob sha1 (regular files)
 *     blobs/<etag>.incomplete           a download in progress (resumed with Range)
 *     snapshots/<commit>/<path>         relative symlinks to ../../blobs/<etag> (one more ../ per folder level)
 *     refs/<revision>                   the commit a branch or tag resolved to (no trailing newline)
 *     .no_exist/<commit>/<path>         empty markers: the file is known to be absent at that commit
 *
 * Pure helpers: no environment reads (the config module passes HF_HOME / HF_HUB_CACHE in), no network.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export const COMMIT_HASH_RE = /^[0-9a-f]{40}$/;

export function isCommitHash(revision: string): boolean {
  return COMMIT_HASH_RE.test(revision);
}

/**
 * The hub cache folder with huggingface_hub's precedence: HF_HUB_CACHE (or the legacy
 * HUGGINGFACE_HUB_CACHE), else $HF_HOME/hub, else $XDG_CACHE_HOME/huggingface/hub,
 * else ~/.cache/huggingface/hub. Empty strings count as unset; a leading `~` is expanded.
 */
export function hubCacheDir(options: {
  hfHubCache?: string | undefined;
  legacyHubCache?: string | undefined;
  hfHome?: string | undefined;
  xdgCacheHome?: string | undefined;
  homeDir: string;
}): string {
  const expand = (p: string): string =>
    p === '~' ? options.homeDir : p.startsWith('~/') ? path.join(options.homeDir, p.slice(2)) : p;
  const set = (v: string | undefined): v is string => v !== undefined && v !== '';
  if (set(options.hfHubCache)) return path.resolve(expand(options.hfHubCache));
  if (set(options.legacyHubCache)) return path.resolve(expand(options.legacyHubCache));
  if (set(options.hfHome)) return path.resolve(expand(options.hfHome), 'hub');
  if (set(options.xdgCacheHome)) return path.resolve(expand(options.xdgCacheHome), 'huggingface', 'hub');
  return path.resolve(options.homeDir, '.cache', 'huggingface', 'hub');
}

const REPO_PART_RE = /^[A-Za-z0-9][\w.-]*$/;

/** Throws unless `repo` is `name` or `org/name` as the Hub allows them (no `--`, no `..`). */
export function validateRepoId(repo: string): void {
  const parts = repo.split('/');
  const ok =
    parts.length >= 1 &&
    parts.length <= 2 &&
    parts.every((p) => REPO_PART_RE.test(p) && !p.includes('--') && !p.includes('..') && p.length <= 96);
  if (!ok) throw new Error(`'${repo}' is not a Hugging Face repo id: expected "org/name" (letters, digits, - _ .)`);
}

/** Throws unless `revision` is a branch, tag or commit that cannot escape the refs/ folder. */
export function validateRevision(revision: string): void {
  if (!isSafeRelativePath(revision)) throw new Error(`'${revision}' is not a valid revision (a branch, tag or 40-hex commit)`);
}

/** Throws unless `file` is a relative, forward-slash path inside the repo. */
export function validateRepoPath(file: string): void {
  if (!isSafeRelativePath(file)) throw new Error(`'${file}' is not a valid file path inside a repo (relative, '/'-separated, no '..')`);
}

/** A non-empty, '/'-separated relative path that stays inside its folder (no '..', '.', empty segment, '\\' or NUL). */
function isSafeRelativePath(p: string): boolean {
  const bad =
    p === '' ||
    p.startsWith('/') ||
    p.includes('\\') ||
    p.includes('\0') ||
    p.split('/').some((s) => s === '' || s === '.' || s === '..');
  return !bad;
}

/** `org/name` → `models--org--name` (huggingface_hub's repo_folder_name for model repos). */
export function repoFolderName(repo: string): string {
  validateRepoId(repo);
  return `models--${repo.split('/').join('--')}`;
}

export function repoCacheDir(cacheDir: string, repo: string): string {
  return path.join(cacheDir, repoFolderName(repo));
}

export function snapshotDir(cacheDir: string, repo: string, commit: string): string {
  if (!isCommitHash(commit)) throw new Error(`'${commit}' is not a 40-hex commit hash`);
  return path.join(repoCacheDir(cacheDir, repo), 'snapshots', commit);
}

/** The commit a revision resolves to in the cache: a commit hash is its own; else refs/<revision>. */
export async function readRef(cacheDir: string, repo: string, revision: string): Promise<string | undefined> {
  if (isCommitHash(revision)) return revision;
  validateRevision(revision);
  try {
    const text = (await fs.readFile(path.join(repoCacheDir(cacheDir, repo), 'refs', revision), 'utf8')).trim();
    return isCommitHash(text) ? text : undefined;
  } catch (error) {
    if (isNoEntry(error)) return undefined;
    throw error;
  }
}

/** Writes refs/<revision> = commit atomically (no trailing newline, as huggingface_hub writes it). */
export async function writeRef(cacheDir: string, repo: string, revision: string, commit: string): Promise<void> {
  if (isCommitHash(revision)) return;
  validateRevision(revision);
  const refPath = path.join(repoCacheDir(cacheDir, repo), 'refs', revision);
  try {
    if ((await fs.readFile(refPath, 'utf8')) === commit) return;
  } catch (error) {
    if (!isNoEntry(error)) throw error;
  }
  await fs.mkdir(path.dirname(refPath), { recursive: true });
  const tmp = `${refPath}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await fs.writeFile(tmp, commit);
  await fs.rename(tmp, refPath);
}

/** The `.no_exist/<commit>/<path>` marker huggingface_hub keeps for files known to be absent. */
export function noExistPath(cacheDir: string, repo: string, commit: string, file: string): string {
  validateRepoPath(file);
  return path.join(repoCacheDir(cacheDir, repo), '.no_exist', commit, ...file.split('/'));
}

/**
 * The snapshot folder of `revision` if every one of `paths` is present there (symlinks that resolve
 * to a blob); undefined when the revision is not cached or a file is missing.
 */
export async function findCachedSnapshot(
  cacheDir: string,
  repo: string,
  revision: string,
  paths: string[],
): Promise<string | undefined> {
  const commit = await readRef(cacheDir, repo, revision);
  if (!commit) return undefined;
  const dir = snapshotDir(cacheDir, repo, commit);
  for (const file of paths) {
    validateRepoPath(file);
    try {
      const stat = await fs.stat(path.join(dir, ...file.split('/')));
      if (!stat.isFile()) return undefined;
    } catch (error) {
      if (isNoEntry(error)) return undefined;
      throw error;
    }
  }
  return dir;
}

/** Deletes a repo's whole cache folder (all revisions) and its locks; false if it was not cached. */
export async function removeCachedRepo(cacheDir: string, repo: string): Promise<boolean> {
  const dir = repoCacheDir(cacheDir, repo);
  const existed = await exists(dir);
  await fs.rm(dir, { recursive: true, force: true });
  await fs.rm(path.join(cacheDir, '.locks', repoFolderName(repo)), { recursive: true, force: true });
  return existed;
}

export interface CachedRepo {
  repo: string;
  /** The repo's folder in the cache. */
  path: string;
  /** Branch/tag → commit, from refs/ (nested refs such as `refs/pr/1` included). */
  refs: Record<string, string>;
  /** Commits with a snapshot folder, sorted. */
  snapshots: string[];
  /** Bytes of complete blobs (what the repo takes on disk, each blob counted once). */
  blobBytes: number;
  /** Bytes of `.incomplete` downloads waiting to be resumed. */
  incompleteBytes: number;
  /** What the repo takes on disk: blobBytes + incompleteBytes. */
  sizeBytes: number;
}

/** Every model repo in the cache (folders `models--*`), sorted by repo id. */
export async function listCachedRepos(cacheDir: string): Promise<CachedRepo[]> {
  let names: string[];
  try {
    names = await fs.readdir(cacheDir);
  } catch (error) {
    if (isNoEntry(error)) return [];
    throw error;
  }
  const repos: CachedRepo[] = [];
  for (const name of names.sort()) {
    if (!name.startsWith('models--')) continue;
    const dir = path.join(cacheDir, name);
    if (!(await fs.stat(dir)).isDirectory()) continue;
    const repo = name.slice('models--'.length).split('--').join('/');
    const refs: Record<string, string> = {};
    for (const ref of await walkFiles(path.join(dir, 'refs'))) {
      const commit = (await fs.readFile(path.join(dir, 'refs', ref), 'utf8')).trim();
      refs[ref.split(path.sep).join('/')] = commit;
    }
    let snapshots: string[] = [];
    try {
      snapshots = (await fs.readdir(path.join(dir, 'snapshots'))).filter(isCommitHash).sort();
    } catch (error) {
      if (!isNoEntry(error)) throw error;
    }
    let blobBytes = 0;
    let incompleteBytes = 0;
    let blobs: string[] = [];
    try {
      blobs = await fs.readdir(path.join(dir, 'blobs'));
    } catch (error) {
      if (!isNoEntry(error)) throw error;
    }
    for (const blob of blobs) {
      const stat = await fs.lstat(path.join(dir, 'blobs', blob));
      if (!stat.isFile()) continue;
      if (blob.endsWith('.incomplete')) incompleteBytes += stat.size;
      else if (!blob.includes('.')) blobBytes += stat.size;
    }
    repos.push({ repo, path: dir, refs, snapshots, blobBytes, incompleteBytes, sizeBytes: blobBytes + incompleteBytes });
  }
  return repos;
}

async function walkFiles(root: string, prefix = ''): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fs.readdir(path.join(root, prefix), { withFileTypes: true });
  } catch (error) {
    if (isNoEntry(error)) return [];
    throw error;
  }
  const out: string[] = [];
  for (const entry of entries) {
    const rel = prefix ? path.join(prefix, entry.name) : entry.name;
    if (entry.isDirectory()) out.push(...(await walkFiles(root, rel)));
    else if (entry.isFile() && !entry.name.endsWith('.tmp')) out.push(rel);
  }
  return out.sort();
}

/** True when something (a file, folder or link, even a dangling one) is at `p`. */
export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch (error) {
    if (isNoEntry(error)) return false;
    throw error;
  }
}

export function isNoEntry(error: unknown): boolean {
  return (error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}
