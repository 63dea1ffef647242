/**
 * Counts of outcomes per endpoint, over the whole run and since the last sample, and the first
 * few distinct reasons behind each failing outcome (what the report quotes to reproduce it).
 */
import { ANSWERED, FAILING, OUTCOMES, type Outcome } from './outcomes.js';

export type OutcomeCounts = Record<Outcome, number>;

export const emptyCounts = (): OutcomeCounts => Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as OutcomeCounts;
const REASONS_KEPT = 8;

export class Tally {
  readonly byEndpoint = new Map<string, OutcomeCounts>();
  readonly total = emptyCounts();
  private interval = emptyCounts();
  /** Distinct `endpoint: outcome: reason` strings for failing outcomes, the first few only. */
  readonly reasons = new Set<string>();

  record(endpoint: string, outcome: Outcome, reason?: string): void {
    let counts = this.byEndpoint.get(endpoint);
    if (!counts) this.byEndpoint.set(endpoint, (counts = emptyCounts()));
    counts[outcome]++;
    this.total[outcome]++;
    this.interval[outcome]++;
    if (FAILING.has(outcome) && this.reasons.size < REASONS_KEPT) this.reasons.add(`${endpoint}: ${outcome}${reason ? `: ${reason.slice(0, 300)}` : ''}`);
  }

  /** The counts since the previous call, and a fresh interval. */
  takeInterval(): OutcomeCounts {
    const interval = this.interval;
    this.interval = emptyCounts();
    return interval;
  }
}

export function answeredOf(counts: OutcomeCounts): number {
  return OUTCOMES.filter((o) => ANSWERED.has(o)).reduce((sum, o) => sum + counts[o], 0);
}

export function sumOf(counts: OutcomeCounts): number {
  return OUTCOMES.reduce((sum, o) => sum + counts[o], 0);
}
