// @ts-check
/**
 * Calls to the server's HTTP API: the API key on every call, and every failure turned into an
 * `ApiCallError` whose message a person can act on (the server answers `{error: {code, message}}`).
 */

const KEY_STORAGE = 'mms-playground.api-key';

/** The API key for this tab ('' when none). */
export function apiKey() {
  try {
    return sessionStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return ''; // storage disabled: the key only lives in the field
  }
}

/** @param {string} key */
export function setApiKey(key) {
  try {
    if (key) sessionStorage.setItem(KEY_STORAGE, key);
    else sessionStorage.removeItem(KEY_STORAGE);
  } catch {
    // storage disabled: nothing to keep
  }
}

export class ApiCallError extends Error {
  /**
   * @param {string} message
   * @param {{ status?: number, code?: string, retryAfter?: number }} [details]
   */
  constructor(message, details = {}) {
    super(message);
    this.name = 'ApiCallError';
    this.status = details.status;
    this.code = details.code;
    this.retryAfter = details.retryAfter;
  }
}

/**
 * `fetch` with the API key; resolves to the response when it is 2xx, else throws ApiCallError.
 * @param {string} path
 * @param {RequestInit & { json?: unknown }} [init]
 */
export async function callApi(path, init = {}) {
  const headers = new Headers(init.headers);
  const key = apiKey();
  if (key) headers.set('Authorization', `Bearer ${key}`);
  let body = init.body;
  if (init.json !== undefined) {
    headers.set('Content-Type', 'application/json');
    body = JSON.stringify(init.json);
  }
  let response;
  try {
    response = await fetch(path, { ...init, headers, body });
  } catch (error) {
    if (error instanceof DOMException && error.name === 'AbortError') throw error;
    throw new ApiCallError('Could not reach the server: is it still running?');
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

/** @param {string} path @param {RequestInit & { json?: unknown }} [init] */
export async function getJson(path, init) {
  return (await callApi(path, init)).json();
}

/** @param {Response} response */
async function errorOf(response) {
  /** @type {{ code?: string, message?: string }} */
  let error = {};
  try {
    const body = await response.json();
    error = body?.error ?? {};
  } catch {
    // not our JSON (a proxy's page): the status says enough
  }
  const retryHeader = Number(response.headers.get('Retry-After'));
  const retryAfter = Number.isFinite(retryHeader) && retryHeader > 0 ? retryHeader : undefined;
  return new ApiCallError(explain(response.status, error, retryAfter), { status: response.status, code: error.code, retryAfter });
}

/**
 * What to tell a person for a status, with the server's own message after it.
 * @param {number} status @param {{ code?: string, message?: string }} error @param {number | undefined} retryAfter
 */
export function explain(status, error, retryAfter) {
  const said = error.message ? ` (${error.code ?? status}: ${error.message})` : ` (HTTP ${status})`;
  if (status === 401) {
    return apiKey()
      ? `The server did not accept the API key: check it in the API key field at the top.${said}`
      : `The server needs an API key: enter it in the API key field at the top.${said}`;
  }
  if (status === 403) return `This API key is not allowed to do that.${said}`;
  if (status === 429) {
    const wait = retryAfter ? ` Try again in ${retryAfter} s.` : ' Try again in a moment.';
    return `${error.code === 'rate_limited' ? 'Too many requests for this API key.' : 'The server is busy.'}${wait}${said}`;
  }
  if (status === 503) return `The model is not ready (still loading, or unhealthy).${said}`;
  if (status === 504) return `The answer took too long.${said}`;
  if (status >= 500) return `The server failed to answer.${said}`;
  return `The server refused the request.${said}`;
}

/** A message for anything a panel caught ('' for a cancelled request, which says nothing). @param {unknown} error */
export function messageOf(error) {
  if (error instanceof DOMException && error.name === 'AbortError') return '';
  if (error instanceof Error) return error.message;
  return String(error);
}
