/**
 * Deterministic pseudo-random numbers for generated test models: the same seed gives the same
 * weights on every machine and Node version (pure 32-bit integer arithmetic, no Math.random).
 *
 *   const rng = new SeededRandom(42);
 *   const w = rng.fillNormal(new Float32Array(64 * 64), 0.02);
 */
export class SeededRandom {
  private state: number;
  private spare: number | undefined;

  constructor(seed: number) {
    // Mix the seed once (splitmix32-style) so nearby seeds give unrelated streams.
    let s = (seed | 0) ^ 0x9e3779b9;
    s = Math.imul(s ^ (s >>> 16), 0x85ebca6b);
    s = Math.imul(s ^ (s >>> 13), 0xc2b2ae35);
    this.state = (s ^ (s >>> 16)) >>> 0;
  }

  /** mulberry32: a uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A standard normal sample (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== undefined) {
      const value = this.spare;
      this.spare = undefined;
      return value;
    }
    const u1 = 1 - this.next(); // (0, 1]: log stays finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Fills `out` with normal(mean, std) samples and returns it: the same values as calling
   * `normal()` out.length times, with the generator inlined (≈ 3× faster; ViT-B has 86M weights).
   */
  fillNormal(out: Float32Array, std: number, mean = 0): Float32Array {
    let i = 0;
    if (this.spare !== undefined && out.length > 0) out[i++] = mean + std * this.normal();
    let state = this.state;
    const uniform = (): number => {
      let t = (state = (state + 0x6d2b79f5) >>> 0);
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
    for (; i + 1 < out.length; i += 2) {
      const r = Math.sqrt(-2 * Math.log(1 - uniform()));
      const theta = 2 * Math.PI * uniform();
      out[i] = mean + std * r * Math.cos(theta);
      out[i + 1] = mean + std * r * Math.sin(theta);
    }
    this.state = state;
    if (i < out.length) out[i] = mean + std * this.normal();
    return out;
  }

  /** A new Float32Array of `size` normal(mean, std) samples. */
  normalArray(size: number, std: number, mean = 0): Float32Array {
    return this.fillNormal(new Float32Array(size), std, mean);
  }
}
