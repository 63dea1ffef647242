/**
 * Runs one batch and, when the whole run throws, bisects it to find the item(s) that made it
 * fail, so one poison input cannot fail its batch mates. Used by the batcher; pure logic over an
 * injected `run`, no timers, no state between calls.
 *
 *     const stats = await runIsolated([a, b, c], run, { maxReruns: 4, isLive: () => true,
 *       settle: (item, outcome) => console.log(item, outcome) });
 */

/** One item's answer: a value, or the error it failed with. */
export type ItemOutcome<R> = { ok: true; value: R } | { ok: false; error: unknown };

export interface IsolationOptions<T, R> {
  /** Most re-runs after the first run (a cap on the retry work); 0 disables bisection. */
  maxReruns: number;
  /** Items that went away (deadline, cancel) are left out of every later run. */
  isLive: (item: T) => boolean;
  /** Called once per live item as soon as its outcome is known. */
  settle: (item: T, outcome: ItemOutcome<R>) => void;
}

export interface IsolationStats {
  /** Runs made, the first one included. */
  runs: number;
  /** Runs that resolved (the model answered, possibly with per-item errors). */
  resolvedRuns: number;
  /** Runs that threw (or resolved with the wrong number of results). */
  failedRuns: number;
}

/**
 * `run(items)` resolves to one entry per item, in order; an entry that is an `Error` fails that
 * item alone. When `run` throws (synchronously or not) for a group of more than one item, the
 * group is split in halves and each half is re-run, depth first, until `maxReruns` is spent;
 * groups left over fail with the error of the run that contained them.
 * With maxReruns = 2·⌈log2 n⌉, one poison item in a batch of n is always found.
 */
export async function runIsolated<T, R>(
  items: readonly T[],
  run: (items: readonly T[]) => Promise<ReadonlyArray<R | Error>>,
  options: IsolationOptions<T, R>,
): Promise<IsolationStats> {
  const stats: IsolationStats = { runs: 0, resolvedRuns: 0, failedRuns: 0 };

  const attempt = async (group: readonly T[], parent: { error: unknown } | undefined): Promise<void> => {
    const live = group.filter(options.isLive);
    if (live.length === 0) return;
    if (parent && stats.runs - 1 >= options.maxReruns) {
      for (const item of live) options.settle(item, { ok: false, error: parent.error });
      return;
    }
    stats.runs += 1;
    let results: ReadonlyArray<R | Error>;
    try {
      results = await run(live);
      if (!Array.isArray(results) || results.length !== live.length) {
        throw new Error(`runBatch returned ${Array.isArray(results) ? results.length : 'no'} results for ${live.length} items`);
      }
    } catch (error) {
      stats.failedRuns += 1;
      if (live.length > 1) {
        const middle = Math.ceil(live.length / 2);
        await attempt(live.slice(0, middle), { error });
        await attempt(live.slice(middle), { error });
      } else {
        options.settle(live[0] as T, { ok: false, error });
      }
      return;
    }
    stats.resolvedRuns += 1;
    live.forEach((item, i) => {
      const result = results[i] as R | Error;
      options.settle(item, result instanceof Error ? { ok: false, error: result } : { ok: true, value: result });
    });
  };

  await attempt(items, undefined);
  return stats;
}
