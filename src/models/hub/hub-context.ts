/**
 * What one request for one file of a Hub repo is about, checked once and then handed to the HTTP
 * steps and the error messages (which name the repo, revision and file).
 */
import { validateRepoId, validateRepoPath, validateRevision } from './hub-cache.js';
import { HubError } from './hub-errors.js';

export interface HubFileRequest {
  /** The Hub, e.g. https://huggingface.co (HF_ENDPOINT). */
  endpoint: string;
  /** HF_TOKEN: sent as `Authorization: Bearer` to the endpoint's origin only, never to a CDN. */
  token?: string | undefined;
  repo: string;
  /** A branch, tag or 40-hex commit. */
  revision: string;
  /** The file's path in the repo, '/'-separated. */
  path: string;
  signal?: AbortSignal | undefined;
  fetchImpl?: typeof fetch | undefined;
}

export interface HubContext {
  /** The endpoint without trailing slashes. */
  endpoint: string;
  /** The only origin the token is sent to. */
  endpointOrigin: string;
  token: string | undefined;
  repo: string;
  revision: string;
  file: string;
  signal: AbortSignal | undefined;
  fetchImpl: typeof fetch;
}

/** Throws an 'invalid' HubError unless the repo id, revision and path are safe to use in URLs and the cache. */
export function validateFileRequest(request: HubFileRequest): void {
  try {
    validateRepoId(request.repo);
    validateRevision(request.revision);
    validateRepoPath(request.path);
  } catch (error) {
    throw new HubError('invalid', (error as Error).message);
  }
}

/** The context of a request validateFileRequest accepted; throws an 'invalid' HubError for an endpoint that is not a URL. */
export function hubContext(request: HubFileRequest): HubContext {
  return {
    endpoint: request.endpoint.replace(/\/+$/, ''),
    endpointOrigin: originOf(request.endpoint),
    // An empty HF_TOKEN counts as none.
    token: request.token || undefined,
    repo: request.repo,
    revision: request.revision,
    file: request.path,
    signal: request.signal,
    fetchImpl: request.fetchImpl ?? fetch,
  };
}

export function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    throw new HubError('invalid', `HF_ENDPOINT '${url}' is not a URL (expected e.g. https://huggingface.co)`);
  }
}
