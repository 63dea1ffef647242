/**
 * A scan of a JSON body's structure before it is parsed: `JSON.parse` of 2.5 M keys blocks the
 * event loop for seconds (and walking the result as long again), while no request has more than
 * a few thousand keys. Strings are skipped with `indexOf` (native), so a body that is one long
 * base64 string costs microseconds; a hostile body is refused as soon as it passes a limit.
 */
import { ApiError } from '../../errors.js';

export interface JsonShapeLimits {
  /** Object keys in the whole document. */
  maxKeys: number;
  /** Nesting of objects and arrays. */
  maxDepth: number;
  /** Values in the whole document (commas + 1), array elements included: 2 M numbers parse in ~0.25 s. */
  maxValues: number;
}

// 50,000 keys: an alignment fit with 10,000 labelled examples has ~30,000. Routes that take many
// numbers (embeddings as examples) raise maxValues for themselves.
export const JSON_SHAPE_LIMITS: JsonShapeLimits = { maxKeys: 50_000, maxDepth: 32, maxValues: 200_000 };

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** Index of the quote that closes the string opened at `open`, or -1 if it never closes. */
function closingQuote(bytes: Uint8Array, open: number): number {
  let at = open + 1;
  for (;;) {
    at = bytes.indexOf(QUOTE, at);
    if (at < 0) return -1;
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
    at++;
  }
}

/** Throws `invalid_request` when the document has more keys or nesting than the limits allow. Malformed JSON is left to the parser. */
export function checkJsonShape(bytes: Uint8Array, limits: JsonShapeLimits = JSON_SHAPE_LIMITS): void {
  let keys = 0;
  let depth = 0;
  let values = 1;
  for (let i = 0; i < bytes.length; i++) {
    const c = bytes[i];
    if (c === QUOTE) {
      const end = closingQuote(bytes, i);
      if (end < 0) return;
      i = end;
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > limits.maxDepth) throw new ApiError('invalid_request', `the JSON body nests deeper than ${limits.maxDepth} levels`);
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    } else if (c === 0x3a && ++keys > limits.maxKeys) {
      throw new ApiError('invalid_request', `the JSON body has more than ${limits.maxKeys} keys`);
    } else if (c === 0x2c && ++values > limits.maxValues) {
      throw new ApiError('invalid_request', `the JSON body has more than ${limits.maxValues} values`);
    }
  }
}
