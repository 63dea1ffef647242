/**
 * A circuit breaker for one served model, used by the batcher: K consecutive batches in which
 * nothing was answered (every run threw) open it; after a cooldown it lets one probe through
 * (half-open), and any batch that the model answers closes it again.
 *
 *     const gate = new HealthGate({ clock: realClock, maxFailures: 3, cooldownMs: 5000 });
 *     if (gate.admit(false) !== 'reject') { ... } ; gate.record('down', false);
 */
import type { Clock, TimerHandle } from './clock.js';

/** How one batch went: the model answered a run, every run threw, or nothing ran. */
export type BatchHealth = 'up' | 'down' | 'unknown';

export interface HealthGateOptions {
  clock: Clock;
  /** K; `Infinity` never opens the gate. */
  maxFailures: number;
  cooldownMs: number;
  onChange?: (healthy: boolean) => void;
  /** Called when the cooldown ends and one probe may go through. */
  onHalfOpen?: () => void;
}

export class HealthGate {
  private state: 'healthy' | 'unhealthy' | 'half_open' = 'healthy';
  private failures = 0;
  private timer: TimerHandle | undefined;

  constructor(private readonly options: HealthGateOptions) {}

  get healthy(): boolean {
    return this.state === 'healthy';
  }

  /** Whether a new request may enter: as usual, as the one half-open probe, or not at all. */
  admit(probeOutstanding: boolean): 'accept' | 'probe' | 'reject' {
    if (this.state === 'healthy') return 'accept';
    return this.state === 'half_open' && !probeOutstanding ? 'probe' : 'reject';
  }

  /** Records one finished batch; returns true when this result made the model unhealthy. */
  record(result: BatchHealth, containedProbe: boolean): boolean {
    if (result === 'up') {
      this.failures = 0;
      if (this.state !== 'healthy') {
        this.clearTimer();
        this.state = 'healthy';
        this.options.onChange?.(true);
      }
      return false;
    }
    if (result === 'unknown') return false;
    this.failures += 1;
    const wasHealthy = this.state === 'healthy';
    const trip = wasHealthy ? this.failures >= this.options.maxFailures : this.state === 'half_open' && containedProbe;
    if (!trip) return false;
    this.state = 'unhealthy';
    this.clearTimer();
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      this.state = 'half_open';
      this.options.onHalfOpen?.();
    }, this.options.cooldownMs);
    if (wasHealthy) this.options.onChange?.(false);
    return true;
  }

  /** Seconds a refused client should wait (the cooldown, at least 1). */
  get retryAfterSeconds(): number {
    return Math.max(1, Math.ceil(this.options.cooldownMs / 1000));
  }

  /** Stops the cooldown timer (on shutdown); the state stays as it is. */
  close(): void {
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }
}
