/**
 * Turns what went wrong with a Hub request into a HubError that says what to do: a failed
 * connection ('offline' or 'interrupted'), an error status (gated, missing, rate-limited, …),
 * or an answer without the headers that make a download verifiable.
 */
import { type HubContext, originOf } from './hub-context.js';
import { HubError, type HubErrorKind } from './hub-errors.js';

const OFFLINE_CODES = new Set([
  'ENOTFOUND',
  'EAI_AGAIN',
  'EAI_NONAME',
  'ECONNREFUSED',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
]);

/** Every `code` in an error and its causes (fetch wraps the socket's error in `cause`; an AggregateError holds several in `errors`). */
function errorCodes(error: unknown, depth = 0): string[] {
  if (!error || typeof error !== 'object' || depth > 5) return [];
  const e = error as { code?: unknown; cause?: unknown; errors?: unknown };
  const own = typeof e.code === 'string' ? [e.code] : [];
  const nested = Array.isArray(e.errors) ? e.errors.flatMap((x) => errorCodes(x, depth + 1)) : [];
  return [...own, ...errorCodes(e.cause, depth + 1), ...nested];
}

/** The abort's reason when the caller aborted (to rethrow as is), else undefined. */
export function abortReason(ctx: HubContext, error: unknown): unknown {
  return ctx.signal?.aborted ? (ctx.signal.reason ?? error) : undefined;
}

/** A fetch that threw: 'offline' when the host cannot be reached, else 'interrupted' (retried). */
export function networkError(ctx: HubContext, error: unknown, url: string): unknown {
  const aborted = abortReason(ctx, error);
  if (aborted !== undefined) return aborted;
  if (error instanceof HubError) return error;
  const codes = errorCodes(error);
  const code = codes.find((c) => OFFLINE_CODES.has(c)) ?? codes[0];
  const host = new URL(url).host;
  const what = originOf(url) === ctx.endpointOrigin ? ctx.endpoint : `${host} (where the Hub stores large files)`;
  if (code === undefined || OFFLINE_CODES.has(code)) {
    return new HubError(
      'offline',
      `cannot reach ${what}${code ? ` (${code})` : ''}: are you offline? Check the network or proxy, or set HF_ENDPOINT for a mirror`,
      { cause: error, url },
    );
  }
  return new HubError('interrupted', `the connection to ${host} failed (${code}) for ${ctx.repo}/${ctx.file}: run the pull again`, {
    cause: error,
    url,
  });
}

/** An answer with status >= 400, explained with the Hub's X-Error-Code where it sent one. */
export function statusError(ctx: HubContext, res: Response, url: string): HubError {
  const errorCode = res.headers.get('x-error-code') ?? undefined;
  const hubMessage = res.headers.get('x-error-message') ?? undefined;
  const commit = res.headers.get('x-repo-commit') ?? undefined;
  const status = res.status;
  const details = { status, url, errorCode, commit };
  const { repo, revision, file, endpoint } = ctx;
  const repoPage = `${endpoint}/${repo}`;
  const onHub = originOf(url) === ctx.endpointOrigin;
  const tokenHint = ctx.token ? '' : ', or set HF_TOKEN if it is a private repo';
  const fail = (kind: HubErrorKind, message: string): HubError => new HubError(kind, message, details);

  if (!onHub && (status === 401 || status === 403)) {
    return fail('http', `the file store refused ${repo}/${file} (${status}, the download link may have expired): run the pull again`);
  }
  if (status === 401 || status === 403) {
    if (hubMessage?.startsWith('Invalid credentials') || hubMessage?.startsWith('Invalid user token')) {
      return fail(
        'unauthorized',
        `the Hub rejected HF_TOKEN as invalid (${status}): create a read token at ${endpoint}/settings/tokens and set HF_TOKEN to it`,
      );
    }
    if (errorCode === 'RepoNotFound') {
      return fail('not_found', `repository '${repo}' was not found on ${endpoint}: check the repo id (org/name)${tokenHint}`);
    }
    if (ctx.token) {
      return fail(
        'unauthorized',
        `'${repo}' is gated or private and HF_TOKEN has no access to it (${status}): accept its terms at ${repoPage} ` +
          `with the account the token belongs to (gated access may need approval), or set HF_TOKEN to a token of an account with access`,
      );
    }
    return fail(
      'unauthorized',
      `'${repo}' is gated or private (${status}): accept its terms on the Hub at ${repoPage} ` +
        `and set HF_TOKEN to a read token (${endpoint}/settings/tokens)`,
    );
  }
  if (status === 404) {
    if (errorCode === 'RepoNotFound') {
      return fail('not_found', `repository '${repo}' was not found on ${endpoint}: check the repo id (org/name)${tokenHint}`);
    }
    if (errorCode === 'RevisionNotFound') {
      return fail('not_found', `revision '${revision}' was not found in '${repo}': check the branch, tag or commit hash`);
    }
    if (errorCode === 'EntryNotFound') {
      return fail(
        'not_found',
        `file '${file}' was not found in '${repo}' at revision '${revision}': check the path ` +
          `(the files are listed at ${repoPage}/tree/${encodeURIComponent(revision)})`,
      );
    }
    return fail('not_found', `${url} was not found (404): check the repo id '${repo}', the revision '${revision}' and the file '${file}'`);
  }
  if (status === 429) {
    const hint = ctx.token ? '' : ', or set HF_TOKEN (signed-in users get higher limits)';
    return fail('http', `the Hub rate-limited this download (429): wait a few minutes and run the pull again${hint}`);
  }
  if (status >= 500) {
    const who = onHub ? endpoint : new URL(url).host;
    return fail('http', `${who} answered ${status} for ${repo}/${file}: the Hub is having trouble, try again later (or set HF_ENDPOINT to a mirror)`);
  }
  return fail('http', `${url} answered ${status} ${res.statusText}${hubMessage ? ` (${hubMessage})` : ''}`);
}

/** An answer without the Hub's headers: the bytes could not be checked, so nothing is downloaded. */
export function notAHub(ctx: HubContext, url: string, why: string): HubError {
  return new HubError(
    'http',
    `${url}: ${why}, so the download cannot be verified: is HF_ENDPOINT (${ctx.endpoint}) a Hugging Face Hub or a mirror that keeps its headers?`,
    { url },
  );
}
