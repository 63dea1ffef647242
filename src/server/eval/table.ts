/** The result table: one row per strategy, `|`-separated columns padded to line up. */

export interface StrategyRow {
  strategy: string;
  /** Absent: the strategy was skipped, `skipped` says why. */
  accuracyAll?: number;
  accuracyHeldOut?: number;
  accuracyHeldOutAligned?: number;
  /** Held-out image centroid to label-text centroid, before → after the alignment. */
  gapBefore?: number;
  gapAfter?: number;
  skipped?: string;
}

export const TABLE_HEADER = ['strategy', 'accuracy (all)', 'accuracy (held-out)', 'held-out with alignment', 'gap before → after'];

const fixed = (n: number | undefined) => (n === undefined ? '' : n.toFixed(3));

export function formatTable(rows: readonly StrategyRow[]): string {
  const cells = rows.map((row) =>
    row.skipped !== undefined
      ? [row.strategy, `skipped: ${row.skipped}`]
      : [row.strategy, fixed(row.accuracyAll), fixed(row.accuracyHeldOut), fixed(row.accuracyHeldOutAligned), `${fixed(row.gapBefore)} → ${fixed(row.gapAfter)}`],
  );
  // A skipped row's note runs on past the columns; only its strategy name counts for the widths.
  const widths = TABLE_HEADER.map((h, c) => Math.max(h.length, ...cells.filter((r) => c < r.length - 1 || r.length > 2).map((r) => r[c]!.length)));
  const line = (values: readonly string[]) => values.map((v, c) => (c < values.length - 1 ? v.padEnd(widths[c]!) : v)).join(' | ');
  return [line(TABLE_HEADER), widths.map((w) => '-'.repeat(w)).join('-|-'), ...cells.map(line)].join('\n');
}
