export {
  COMMIT_HASH_RE,
  findCachedSnapshot,
  hubCacheDir,
  isCommitHash,
  listCachedRepos,
  noExistPath,
  readRef,
  removeCachedRepo,
  repoCacheDir,
  repoFolderName,
  snapshotDir,
  validateRepoId,
  validateRepoPath,
  validateRevision,
  writeRef,
} from './hub-cache.js';
export type { CachedRepo } from './hub-cache.js';
export { downloadFile, fetchFileMetadata, formatBytes, hashFile, HubError, resolveUrl, verifyCachedFile } from './hub-download.js';
export type { DownloadFileOptions, DownloadFileResult, DownloadProgress, HubErrorKind, HubFileMetadata } from './hub-download.js';
export { pullFiles } from './pull.js';
export type { PullFile, PullOptions, PullResult } from './pull.js';
export { createProgressReporter, formatAmount, silentProgress } from './progress.js';
export type { FileProgress, ProgressOptions, ProgressReporter } from './progress.js';
