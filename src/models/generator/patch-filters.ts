/** Patch-embedding filters for random-weight vision transformers (ViT, CLIP's vision tower). */
import type { SeededRandom } from './seeded-random.js';

/** Weight of the flat (DC) term, damped as in trained filters; share of white noise in each filter. */
const DC = 0.3;
const WHITE = 0.5;

/**
 * Unit-norm patch filters that look like trained ones: mostly smooth (low-frequency DCT terms,
 * with the flat term damped) plus some white noise. Photos carry their energy at low
 * frequencies; with white filters alone the demo model gave the same top-1 to different photos.
 */
export function patchFilters(rng: SeededRandom, outC: number, inC: number, p: number): Float32Array {
  const K = Math.min(4, p);
  const basis: Float32Array[] = [];
  for (let u = 0; u < K; u++) {
    for (let v = 0; v < K; v++) {
      const b = new Float32Array(p * p);
      const norm = Math.sqrt(((u === 0 ? 1 : 2) / p) * ((v === 0 ? 1 : 2) / p));
      for (let y = 0; y < p; y++) for (let x = 0; x < p; x++) b[y * p + x] = norm * Math.cos((Math.PI * u * (y + 0.5)) / p) * Math.cos((Math.PI * v * (x + 0.5)) / p);
      basis.push(b);
    }
  }
  const smooth = Math.sqrt(1 - WHITE * WHITE) / Math.sqrt(inC * (K * K - 1 + DC * DC));
  const out = rng.normalArray(outC * inC * p * p, WHITE / Math.sqrt(inC * p * p));
  for (let f = 0; f < outC * inC; f++) {
    const o = out.subarray(f * p * p, (f + 1) * p * p);
    basis.forEach((b, j) => {
      const a = rng.normal() * smooth * (j === 0 ? DC : 1);
      for (let i = 0; i < o.length; i++) o[i]! += a * b[i]!;
    });
  }
  return out;
}

