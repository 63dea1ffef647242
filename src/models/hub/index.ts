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
export type { DownloadProgress } from './blob-fetch.js';
export { hashFile, verifyCachedFile } from './blob-verify.js';
export { downloadFile } from './hub-download.js';
export type { DownloadFileOptions, DownloadFileResult } from './hub-download.js';
export { HubError } from './hub-errors.js';
export type { HubErrorKind } from './hub-errors.js';
export { fetchFileMetadata, resolveUrl } from './hub-http.js';
export type { HubFileMetadata } from './hub-http.js';
export { pullFiles } from './pull.js';
export type { PullFile, PullOptions, PullResult } from './pull.js';
export { createProgressReporter, formatAmount, formatBytes, silentProgress } from './progress.js';
export type { FileProgress, ProgressOptions, ProgressReporter } from './progress.js';
