import type { SchedulerStats } from './decode-scheduler.js';

/** What /v1/models shows of the decode scheduler now. */
export function decodeSummary(stats: SchedulerStats) {
  const recent = stats.stepRows;
  return {
    active_rows: stats.activeRows,
    queued: stats.queued,
    cohorts: stats.cohorts,
    cache_bytes: stats.cacheBytes,
    reserved_cache_bytes: stats.reservedCacheBytes,
    recent_rows_per_step: recent.length > 0 ? Math.round((100 * recent.reduce((a, b) => a + b, 0)) / recent.length) / 100 : 0,
  };
}
