/**
 * Admission before any work: a cap on requests in flight across both transports (bounding the
 * memory held by request bodies), and an early 429 when every model of the task has a full queue,
 * so an overloaded server does not buffer and decode an image just to refuse it.
 */
import { ApiError } from '../errors.js';
import type { Task } from '../pipelines/registry.js';
import type { ModelRegistry } from './model-registry.js';

export class Admission {
  private inFlight = 0;

  constructor(
    private readonly registry: ModelRegistry,
    private readonly maxInFlight: number,
  ) {}

  /** Throws `overloaded` or returns a function that must be called once the request is answered. */
  enter(task: Task): () => void {
    if (this.inFlight >= this.maxInFlight) {
      throw new ApiError('overloaded', `the server is at its limit of ${this.maxInFlight} requests in flight`, { retryAfterSeconds: 1 });
    }
    const ready = this.registry.readyModels(task);
    if (ready.length > 0 && ready.every((m) => m.loaded.batcher.queueDepth >= m.spec.maxQueueSize)) {
      throw new ApiError('overloaded', `every ${task} queue is full`, { retryAfterSeconds: 1 });
    }
    this.inFlight++;
    let left = false;
    return () => {
      if (!left) this.inFlight--;
      left = true;
    };
  }
}
