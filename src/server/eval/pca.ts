/**
 * A 2-D principal component projection (ml-matrix): the two leading eigenvectors of the
 * covariance of the points, signs fixed so the result is deterministic.
 */
import { EigenvalueDecomposition, Matrix } from 'ml-matrix';

export interface Projection {
  /** The point in (PC1, PC2). */
  project(v: Float32Array): [number, number];
  /** Share of the variance each of the two components explains. */
  explained: [number, number];
}

export function fitPca2(points: readonly Float32Array[]): Projection {
  const n = points.length;
  const dim = points[0]?.length ?? 0;
  if (n < 2 || dim < 2) throw new RangeError(`PCA needs at least 2 points of at least 2 dimensions (${n} of ${dim})`);
  const mean = new Float64Array(dim);
  for (const p of points) for (let d = 0; d < dim; d++) mean[d]! += p[d]! / n;
  const centred = new Matrix(points.map((p) => Array.from(p, (v, d) => v - mean[d]!)));
  const covariance = centred.transpose().mmul(centred).div(n - 1);
  const evd = new EigenvalueDecomposition(covariance, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const order = values.map((_, i) => i).sort((a, b) => values[b]! - values[a]!);
  const total = values.reduce((sum, v) => sum + Math.max(v, 0), 0);
  const components = order.slice(0, 2).map((k) => {
    const column = evd.eigenvectorMatrix.getColumn(k);
    // Sign convention: the largest-magnitude coordinate is positive.
    const pivot = column.reduce((best, v) => (Math.abs(v) > Math.abs(best) ? v : best), 0);
    return pivot < 0 ? column.map((v) => -v) : column;
  });
  const [a, b] = components as [number[], number[]];
  return {
    project(v) {
      let x = 0;
      let y = 0;
      for (let d = 0; d < dim; d++) {
        const c = v[d]! - mean[d]!;
        x += c * a[d]!;
        y += c * b[d]!;
      }
      return [x, y];
    },
    explained: [total > 0 ? Math.max(values[order[0]!]!, 0) / total : 0, total > 0 ? Math.max(values[order[1]!]!, 0) / total : 0],
  };
}
