/**
 * A least-recently-used cache of embeddings, bounded by bytes, keyed by model (id with its tag)
 * and exact prompt: a label set asked again runs the text tower zero times. Concurrent misses on
 * one key share a single computation.
 *
 * @example
 *   const cache = new EmbeddingCache({ maxBytes: 64 << 20 });
 *   const vector = await cache.getOrCompute('clip\0a photo of a cat.', () => encode('a photo of a cat.'));
 */
export interface EmbeddingCacheOptions {
  maxBytes: number;
  onHit?: () => void;
  onMiss?: () => void;
  /** Called after every change, with the bytes held. */
  onSize?: (bytes: number) => void;
}

export class EmbeddingCache {
  private readonly entries = new Map<string, Float32Array>();
  private readonly pending = new Map<string, Promise<Float32Array>>();
  private held = 0;

  constructor(private readonly options: EmbeddingCacheOptions) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached vector for `key`, else the result of `compute` (cached unless it fails). */
  getOrCompute(key: string, compute: () => Promise<Float32Array>): Promise<Float32Array> {
    const cached = this.entries.get(key);
    if (cached) {
      this.entries.delete(key); // re-insert: the Map's order is the recency order
      this.entries.set(key, cached);
      this.options.onHit?.();
      return Promise.resolve(cached);
    }
    const inFlight = this.pending.get(key);
    if (inFlight) {
      this.options.onHit?.();
      return inFlight;
    }
    this.options.onMiss?.();
    const computed = compute().then(
      (vector) => {
        this.pending.delete(key);
        this.store(key, vector);
        return vector;
      },
      (error: unknown) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, computed);
    return computed;
  }

  private store(key: string, vector: Float32Array): void {
    const cost = vector.byteLength + key.length * 2;
    if (cost > this.options.maxBytes) return;
    this.entries.set(key, vector);
    this.held += cost;
    for (const [oldest, value] of this.entries) {
      if (this.held <= this.options.maxBytes) break;
      this.entries.delete(oldest);
      this.held -= value.byteLength + oldest.length * 2;
    }
    this.options.onSize?.(this.held);
  }
}
