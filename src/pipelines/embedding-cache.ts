/**
 * A least-recently-used cache of embeddings, bounded by bytes, keyed by model (id with its tag)
 * and exact prompt: a label set asked again runs the text tower zero times. Concurrent misses on
 * one key share a single computation.
 *
 * @example
 *   const cache = new EmbeddingCache<{ vector: Float32Array }>({ maxBytes: 64 << 20 });
 *   const { vector } = await cache.getOrCompute('clip\0a photo of a cat.', async () => ({ vector: await encode('a photo of a cat.') }));
 */
export interface EmbeddingCacheOptions {
  maxBytes: number;
  onHit?: () => void;
  onMiss?: () => void;
  /** Called after every change, with the bytes held. */
  onSize?: (bytes: number) => void;
}

/** An entry's cost: its vector's bytes and its key's (UTF-16) characters; the rest is small. */
const costOf = (key: string, entry: { vector: Float32Array }) => entry.vector.byteLength + key.length * 2;

export class EmbeddingCache<V extends { vector: Float32Array }> {
  private readonly entries = new Map<string, V>();
  private readonly pending = new Map<string, Promise<V>>();
  private held = 0;

  constructor(private readonly options: EmbeddingCacheOptions) {}

  get bytes(): number {
    return this.held;
  }

  get size(): number {
    return this.entries.size;
  }

  /** The cached entry for `key` (a hit, now the most recent), or undefined; no computation is shared or started. */
  get(key: string): V | undefined {
    const cached = this.entries.get(key);
    if (!cached) return undefined;
    this.entries.delete(key); // re-insert: the Map's order is the recency order
    this.entries.set(key, cached);
    this.options.onHit?.();
    return cached;
  }

  /** The cached entry for `key`, else the result of `compute` (cached unless it fails). */
  getOrCompute(key: string, compute: () => Promise<V>): Promise<V> {
    const cached = this.get(key);
    if (cached) return Promise.resolve(cached);
    const inFlight = this.pending.get(key);
    if (inFlight) {
      this.options.onHit?.();
      return inFlight;
    }
    this.options.onMiss?.();
    const computed = compute().then(
      (entry) => {
        this.pending.delete(key);
        this.store(key, entry);
        return entry;
      },
      (error: unknown) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, computed);
    return computed;
  }

  private store(key: string, entry: V): void {
    const cost = costOf(key, entry);
    if (cost > this.options.maxBytes) return;
    this.entries.set(key, entry);
    this.held += cost;
    for (const [oldest, value] of this.entries) {
      if (this.held <= this.options.maxBytes) break;
      this.entries.delete(oldest);
      this.held -= costOf(oldest, value);
    }
    this.options.onSize?.(this.held);
  }
}
