/**
 * The instances of one worker pool, shared by the batchers of a model's components (CLIP's text
 * and vision towers run on the same workers): a batch starts only when an instance is free, so
 * no batch waits inside the pool for another tower's and every batcher's run times, drain rate
 * and deadlines stay true. A freed instance wakes every batcher; the first with work takes it.
 *
 * @example
 *   const slots = new InstanceSlots(2);
 *   const text = new Batcher({ ..., slots });
 *   const vision = new Batcher({ ..., slots });
 */
export class InstanceSlots {
  private free: number;
  private readonly listeners = new Set<() => void>();

  constructor(readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`instance slots: size must be an integer ≥ 1, got ${size}`);
    this.free = size;
  }

  get available(): number {
    return this.free;
  }

  /** Takes a free instance; false when none is. */
  take(): boolean {
    if (this.free === 0) return false;
    this.free -= 1;
    return true;
  }

  /**
   * Gives an instance back and lets each batcher try to use it: the others first, then `by` (the
   * one giving it back), so a busy component cannot keep the instances from the other.
   */
  give(by?: () => void): void {
    this.free = Math.min(this.size, this.free + 1);
    const others = [...this.listeners].filter((listener) => listener !== by);
    for (const listener of by ? [...others, by] : others) {
      if (this.free === 0) break;
      listener();
    }
  }

  /** Called whenever an instance is given back (a batcher pumps its queue). */
  onFree(listener: () => void): void {
    this.listeners.add(listener);
  }
}
