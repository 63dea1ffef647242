/**
 * A bounded free list of ArrayBuffers by size. Large per-image buffers (pixels, batch tensors)
 * travel between threads by transfer; handing them back for reuse instead of allocating new
 * ones keeps the main thread's external memory flat, and with it the full garbage collections
 * that V8 starts as external memory grows (docs/architecture.md, "Per-image overhead").
 */
/**
 * Whether `view` spans all of a live (not detached, not shared) ArrayBuffer: then transferring or
 * reusing that buffer affects nothing but this view.
 */
export function spansWholeBuffer(view: ArrayBufferView): view is ArrayBufferView & { buffer: ArrayBuffer } {
  const { buffer } = view;
  return buffer instanceof ArrayBuffer && buffer.byteLength > 0 && view.byteOffset === 0 && view.byteLength === buffer.byteLength;
}

export class BufferRecycler {
  private readonly free = new Map<number, ArrayBuffer[]>();
  private count = 0;

  /** @param capacity the most buffers kept, all sizes together. */
  constructor(private readonly capacity: number) {}

  /** A spare buffer of exactly `byteLength` bytes (old contents), if one is kept. */
  take(byteLength: number): ArrayBuffer | undefined {
    const buffer = this.free.get(byteLength)?.pop();
    if (buffer) this.count--;
    return buffer;
  }

  /**
   * Keeps the buffer under `view` for a later `take`, if the view spans all of it, it is not
   * detached and there is room. Only give what nothing will read or write again.
   */
  give(view: ArrayBufferView): void {
    if (!spansWholeBuffer(view) || this.count >= this.capacity) return;
    const { buffer } = view;
    const list = this.free.get(buffer.byteLength) ?? [];
    if (list.includes(buffer)) return; // given twice: handing it out twice would fail the second transfer
    list.push(buffer);
    this.free.set(buffer.byteLength, list);
    this.count++;
  }

  /** Buffers kept now. */
  get size(): number {
    return this.count;
  }
}
