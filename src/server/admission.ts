/**
 * Admission before any work: a cap on requests in flight across both transports (bounding the
 * memory held by request bodies), a cap per client address (so one client's slow uploads cannot
 * take every slot), an early 429 when every model of the task has a full queue (so an overloaded
 * server does not buffer and decode an image just to refuse it), and the drain at shutdown:
 * new requests get 503, accepted ones are waited for, and those still open at the drain timeout
 * are answered 503 through the callback their transport registered.
 */
import { ApiError } from '../errors.js';
import type { Task } from '../pipelines/registry.js';
import type { ModelRegistry } from './model-registry.js';

export interface AdmissionLimits {
  maxInFlight: number;
  /** 0 = no per-client cap. */
  maxInFlightPerClient: number;
}

export interface EnterOptions {
  /** The client's address (the per-client cap's key). */
  client?: string;
  /** Answers the request with this error if it is still open when the shutdown drain times out. */
  onShutdown?: (error: ApiError) => void;
}

interface Ticket {
  client: string | undefined;
  onShutdown: ((error: ApiError) => void) | undefined;
}

export class Admission {
  private readonly open = new Set<Ticket>();
  private readonly perClient = new Map<string, number>();
  private draining = false;
  private drainWaiters: Array<() => void> = [];

  constructor(
    private readonly registry: ModelRegistry,
    private readonly limits: AdmissionLimits,
  ) {}

  get inFlight(): number {
    return this.open.size;
  }

  get isDraining(): boolean {
    return this.draining;
  }

  /** Throws `overloaded` or `not_ready`, or returns a function that must be called once the request is answered. */
  enter(task: Task, options: EnterOptions = {}): () => void {
    if (this.draining) throw new ApiError('not_ready', 'the server is shutting down', { retryAfterSeconds: 1 });
    const { maxInFlight, maxInFlightPerClient } = this.limits;
    if (this.open.size >= maxInFlight) {
      throw new ApiError('overloaded', `the server is at its limit of ${maxInFlight} requests in flight`, { retryAfterSeconds: this.retryAfter(task) });
    }
    const { client } = options;
    const fromClient = client === undefined ? 0 : (this.perClient.get(client) ?? 0);
    if (client !== undefined && maxInFlightPerClient > 0 && fromClient >= maxInFlightPerClient) {
      throw new ApiError('overloaded', `this client has ${fromClient} requests in flight, the limit per client`, { retryAfterSeconds: this.retryAfter(task) });
    }
    const ready = this.registry.readyModels(task);
    if (ready.length > 0 && ready.every((m) => Object.values(m.loaded.components).some((c) => c.batcher.queueDepth >= c.maxQueueSize))) {
      throw new ApiError('overloaded', `every ${task} queue is full`, { retryAfterSeconds: this.retryAfter(task) });
    }
    const ticket: Ticket = { client, onShutdown: options.onShutdown };
    this.open.add(ticket);
    if (client !== undefined) this.perClient.set(client, fromClient + 1);
    return () => this.leave(ticket);
  }

  private leave(ticket: Ticket): void {
    if (!this.open.delete(ticket)) return;
    if (ticket.client !== undefined) {
      const left = (this.perClient.get(ticket.client) ?? 1) - 1;
      if (left > 0) this.perClient.set(ticket.client, left);
      else this.perClient.delete(ticket.client);
    }
    if (this.open.size === 0) for (const resolve of this.drainWaiters.splice(0)) resolve();
  }

  /** The soonest any model of the task expects room (its slowest component), from the measured drain rates. */
  private retryAfter(task: Task): number {
    const estimates = this.registry
      .readyModels(task)
      .map((m) => Math.max(...Object.values(m.loaded.components).map((c) => c.batcher.retryAfterSeconds())));
    return estimates.length > 0 ? Math.min(...estimates) : 1;
  }

  /** Refuses new requests from now on. */
  startDraining(): void {
    this.draining = true;
  }

  /** Refuses new requests from now on; resolves true once every accepted one is answered, false at the timeout. */
  async drain(timeoutMs: number): Promise<boolean> {
    this.draining = true;
    if (this.open.size === 0) return true;
    let timer: NodeJS.Timeout | undefined;
    const drained = new Promise<boolean>((resolve) => this.drainWaiters.push(() => resolve(true)));
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
    const result = await Promise.race([drained, timedOut]);
    clearTimeout(timer);
    return result;
  }

  /**
   * Answers every request still open with `not_ready` (after a drain timed out). One answer that
   * cannot be sent (its connection broke) must not keep the others unanswered or stop shutdown.
   */
  abandonOpen(): void {
    const error = new ApiError('not_ready', 'the server shut down before this request finished', { retryAfterSeconds: 1 });
    for (const ticket of [...this.open]) {
      try {
        ticket.onShutdown?.(error);
      } catch {
        // nothing more can be sent on that request
      }
    }
  }
}
