/**
 * Closing CLIP's modality gap with an orthogonal Procrustes map fitted on labelled examples:
 * centre the image embeddings X (around μx) and their labels' text embeddings Y (around μy),
 * W = U·Vᵀ from the SVD of Xcᵀ·Yc, and map an image embedding x → normalise((x − μx)·W + μy).
 * The centring removes most of the gap; the rotation aligns the rest. SVD from ml-matrix.
 *
 * @example
 *   const alignment = fitProcrustes(imageEmbeddings, labelEmbeddingsOfEachImage);
 *   const aligned = applyAlignment(alignment, imageEmbedding);
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';

export interface ProcrustesMap {
  dim: number;
  muX: Float32Array;
  muY: Float32Array;
  /** dim × dim, row-major: y = x·W. */
  w: Float32Array;
}

function mean(vectors: readonly Float32Array[], dim: number): Float32Array {
  const out = new Float64Array(dim);
  for (const v of vectors) for (let i = 0; i < dim; i++) out[i]! += v[i]!;
  return Float32Array.from(out, (s) => s / vectors.length);
}

function centred(vectors: readonly Float32Array[], mu: Float32Array): Matrix {
  return new Matrix(vectors.map((v) => Array.from(v, (value, i) => value - mu[i]!)));
}

/** Fits the map from `x[i]` (image embeddings) to `y[i]` (their labels' text embeddings). */
export function fitProcrustes(x: readonly Float32Array[], y: readonly Float32Array[]): ProcrustesMap {
  if (x.length === 0 || x.length !== y.length) throw new RangeError(`need as many targets as examples (${x.length} vs ${y.length}), at least one`);
  const dim = x[0]!.length;
  const muX = mean(x, dim);
  const muY = mean(y, dim);
  const m = centred(x, muX).transpose().mmul(centred(y, muY));
  const svd = new SingularValueDecomposition(m, { autoTranspose: true });
  const w = svd.leftSingularVectors.mmul(svd.rightSingularVectors.transpose());
  return { dim, muX, muY, w: Float32Array.from(w.to1DArray()) };
}

/** normalise((x − μx)·W + μy). */
export function applyAlignment(map: ProcrustesMap, x: Float32Array): Float32Array {
  const { dim, muX, muY, w } = map;
  const out = new Float32Array(dim);
  for (let i = 0; i < dim; i++) {
    const xi = x[i]! - muX[i]!;
    if (xi === 0) continue;
    const row = i * dim;
    for (let j = 0; j < dim; j++) out[j]! += xi * w[row + j]!;
  }
  let norm = 0;
  for (let j = 0; j < dim; j++) {
    out[j]! += muY[j]!;
    norm += out[j]! * out[j]!;
  }
  norm = Math.sqrt(norm);
  return norm > 0 ? out.map((v) => v / norm) : out;
}
