/**
 * The Hub's HTTP side: the resolve URL of a file, its metadata (one HEAD) and the GET of its bytes.
 * Redirects are followed by hand, so the token goes to the endpoint's origin only, never to a CDN.
 */
import { isCommitHash } from './hub-cache.js';
import { type HubContext, type HubFileRequest, hubContext, originOf, validateFileRequest } from './hub-context.js';
import { HubError } from './hub-errors.js';
import { networkError, notAHub, statusError } from './hub-http-errors.js';

export interface HubFileMetadata {
  /** X-Repo-Commit: the commit the revision resolved to. */
  commit: string;
  /** X-Linked-Etag (LFS: the sha256) or ETag (regular files: the git blob sha1), unquoted. */
  etag: string;
  size: number | undefined;
  /** Where to GET the bytes: the CDN location of an LFS file, else the commit-pinned resolve URL. */
  location: string;
  /** True when the Hub sent X-Linked-Etag (an LFS file, whose etag is its sha256). */
  lfs: boolean;
}

const SAFE_ETAG_RE = /^[A-Za-z0-9_-][\w.-]*$/;
const MAX_REDIRECTS = 10;

/** `<endpoint>/<repo>/resolve/<revision>/<path>`, revision fully encoded, path per segment (as huggingface_hub). */
export function resolveUrl(endpoint: string, repo: string, revision: string, file: string): string {
  const base = endpoint.replace(/\/+$/, '');
  const encodedPath = file.split('/').map(encodeURIComponent).join('/');
  return `${base}/${repo}/resolve/${encodeURIComponent(revision)}/${encodedPath}`;
}

/**
 * The Hub's metadata of one file (one HEAD, redirects not followed): the commit the revision
 * resolves to, the etag (the sha256 of an LFS file), the size and where the bytes are.
 */
export async function fetchFileMetadata(options: HubFileRequest): Promise<HubFileMetadata> {
  validateFileRequest(options);
  return fetchMetadata(hubContext(options));
}

/**
 * HEAD `/<repo>/resolve/<revision>/<path>` without following redirects, reading the metadata from
 * the first answer that has it: the Hub's 302 to the CDN carries X-Repo-Commit, X-Linked-Etag and
 * X-Linked-Size. A redirect without metadata on the Hub's own origin (a renamed repo) is followed.
 */
export async function fetchMetadata(ctx: HubContext): Promise<HubFileMetadata> {
  let url = resolveUrl(ctx.endpoint, ctx.repo, ctx.revision, ctx.file);
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(ctx, 'HEAD', url);
    await res.body?.cancel().catch(() => undefined);
    if (res.status >= 400) throw statusError(ctx, res, url);
    const commit = res.headers.get('x-repo-commit') ?? undefined;
    const linkedEtag = normalizeEtag(res.headers.get('x-linked-etag'));
    const etag = linkedEtag ?? normalizeEtag(res.headers.get('etag'));
    const redirect = isRedirect(res) ? new URL(res.headers.get('location') as string, url).href : undefined;
    if (commit && etag) {
      if (!isCommitHash(commit)) throw notAHub(ctx, url, `X-Repo-Commit '${commit}' is not a commit hash`);
      if (!SAFE_ETAG_RE.test(etag)) throw notAHub(ctx, url, `its ETag '${etag}' cannot name a file`);
      const lfs = linkedEtag !== undefined;
      let size = intHeader(res, 'x-linked-size');
      if (size === undefined && !lfs && !redirect && !res.headers.has('content-encoding')) {
        size = intHeader(res, 'content-length');
      }
      return {
        commit,
        etag,
        size,
        lfs,
        // Pin the GET to the commit the HEAD answered, so the bytes match the etag.
        location: redirect ?? resolveUrl(ctx.endpoint, ctx.repo, commit, ctx.file),
      };
    }
    if (redirect && originOf(redirect) === ctx.endpointOrigin) {
      url = redirect;
      continue;
    }
    throw notAHub(ctx, url, 'the answer has no X-Repo-Commit and ETag headers');
  }
  throw new HubError('http', `too many redirects for ${ctx.repo}/${ctx.file} from ${ctx.endpoint}`);
}

/** GET following redirects by hand, so the token never leaves the endpoint's origin. */
export async function getFollowing(ctx: HubContext, url: string, extra: Record<string, string>): Promise<{ res: Response; url: string }> {
  let current = url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const res = await request(ctx, 'GET', current, extra);
    if (!isRedirect(res)) return { res, url: current };
    await res.body?.cancel().catch(() => undefined);
    current = new URL(res.headers.get('location') as string, current).href;
  }
  throw new HubError('http', `too many redirects downloading ${ctx.repo}/${ctx.file} (last: ${current})`, { url: current });
}

/** One request without following redirects; Authorization only for the endpoint's own origin. */
async function request(ctx: HubContext, method: 'HEAD' | 'GET', url: string, extra: Record<string, string> = {}): Promise<Response> {
  // identity: the Hub gzips small files otherwise, and Content-Length / Range would count gzip bytes.
  const headers: Record<string, string> = { 'accept-encoding': 'identity', ...extra };
  if (ctx.token && originOf(url) === ctx.endpointOrigin) headers.authorization = `Bearer ${ctx.token}`;
  try {
    return await ctx.fetchImpl(url, { method, headers, redirect: 'manual', signal: ctx.signal });
  } catch (error) {
    throw networkError(ctx, error, url);
  }
}

function isRedirect(res: Response): boolean {
  return res.status >= 300 && res.status < 400 && res.headers.has('location');
}

/** An ETag without the weak prefix and the quotes. */
function normalizeEtag(etag: string | null): string | undefined {
  if (!etag) return undefined;
  return etag.replace(/^W\//, '').replace(/^"(.*)"$/, '$1');
}

/** A header's value when it is a plain non-negative integer, else undefined. */
export function intHeader(res: Response, name: string): number | undefined {
  const value = res.headers.get(name);
  if (value === null || !/^\d+$/.test(value.trim())) return undefined;
  return Number(value);
}
