/** Per endpoint and transport: cases tried, and how many gave a 5xx, a crash or no answer. */
import type { Outcome, Transport } from './outcome.js';

export interface CaseRecord {
  readonly endpoint: string;
  readonly transport: Transport;
  readonly name: string;
  readonly expect: string;
  readonly outcome: Outcome;
  /** The server process was gone, or stopped answering, after this case. */
  readonly crashed: boolean;
}

const SERVER_SIDE = new Set(['internal', 'not_ready', 'deadline_exceeded']);

/** A server-side failure: HTTP 5xx, or its gRPC equivalents (INTERNAL, UNAVAILABLE, UNKNOWN). */
export const isServerFailure = (outcome: Outcome) =>
  SERVER_SIDE.has(outcome.result) || /^5\d\d$/.test(outcome.status) || ['INTERNAL', 'UNKNOWN', 'UNAVAILABLE', 'DATA_LOSS'].includes(outcome.status);

/** The README's table: one row per endpoint, both transports. */
export function tallyTable(records: readonly CaseRecord[]): string {
  const rows = new Map<string, CaseRecord[]>();
  for (const record of records) rows.set(record.endpoint, [...(rows.get(record.endpoint) ?? []), record]);
  const lines = ['| endpoint | cases (HTTP + gRPC) | as expected | 5xx | crashes | unanswered |', '|---|---|---|---|---|---|'];
  for (const [endpoint, list] of rows) {
    const count = (transport: string) => list.filter((record) => record.transport === transport).length;
    const matched = list.filter((record) => record.outcome.result === record.expect).length;
    const failures = list.filter((record) => isServerFailure(record.outcome)).length;
    const crashes = list.filter((record) => record.crashed).length;
    const unanswered = list.filter((record) => record.outcome.result === 'unanswered').length;
    lines.push(`| ${endpoint} | ${list.length} (${count('http')} + ${count('grpc')}) | ${matched} | ${failures} | ${crashes} | ${unanswered} |`);
  }
  return lines.join('\n');
}
