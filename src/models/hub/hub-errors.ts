/**
 * HubError: every failure of a Hub download, with a kind a caller can act on and a message that
 * says what to do. Not ApiError: these are CLI / start-up errors.
 */

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

/** Runs a file-system step, turning ENOSPC / EDQUOT into a 'disk_full' HubError that names the folder. */
export async function diskOp<T>(dir: string, op: () => Promise<T>): Promise<T> {
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
