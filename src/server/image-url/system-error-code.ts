/** A Node system error's code (`ECONNREFUSED`, `ENOTFOUND`, `CERT_HAS_EXPIRED`) for a message: it says what failed without quoting the error's text. */
export function systemErrorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? ` (${code})` : '';
}
