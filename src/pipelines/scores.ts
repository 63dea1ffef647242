/** Numerically stable softmax (subtracts the max before exponentiating). */
export function softmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = new Float64Array(logits.length);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    out[i] = Math.exp(logits[i]! - max);
    sum += out[i]!;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** Up to this k, one pass keeping the k best beats sorting every index (1000 ImageNet classes). */
const SELECTION_MAX_K = 32;

/** Indices of the k largest values, largest first; ties keep the lower index first. */
export function topK(values: ArrayLike<number>, k: number): number[] {
  const count = Math.max(0, Math.min(k, values.length));
  if (count > SELECTION_MAX_K) {
    const indices = Array.from({ length: values.length }, (_, i) => i);
    indices.sort((a, b) => values[b]! - values[a]! || a - b);
    return indices.slice(0, count);
  }
  // `best` stays sorted, largest first; a later index goes after equal values (lower index first).
  const best: number[] = [];
  for (let i = 0; i < values.length && count > 0; i++) {
    const value = values[i]!;
    if (best.length === count && !(value > values[best[count - 1]!]!)) continue;
    let at = best.length;
    while (at > 0 && value > values[best[at - 1]!]!) at--;
    best.splice(at, 0, i);
    if (best.length > count) best.pop();
  }
  return best;
}

/** The dot product of two vectors of the same length (a cosine, for normalised ones). */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let total = 0;
  for (let i = 0; i < a.length; i++) total += a[i]! * b[i]!;
  return total;
}

/** The cosine of two vectors (1 when both are zero, 0 when one is). */
export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return na === 0 || nb === 0 ? (na === nb ? 1 : 0) : dot(a, b) / Math.sqrt(na * nb);
}
