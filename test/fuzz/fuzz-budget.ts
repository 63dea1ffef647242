/**
 * How long the fuzz properties run. MMS_FUZZ_SECONDS is the time the whole fuzz suite spends in
 * its properties (`npm run fuzz`: 600); unset, a CI budget keeps `test/fuzz` at about a minute of
 * wall time on two cores, server starts included. Each property asks for its share of that time:
 * it runs until the time is up (fast-check's interruptAfterTimeLimit plugin), with a run count
 * too large to end it first. A failure prints fast-check's seed and path; MMS_FUZZ_SEED replays
 * the seed (with MMS_FUZZ_SECONDS long enough to reach the failing run). The time limit also
 * ends shrinking, so a failure found late is reported less shrunk: replay it with more time.
 * `npm run fuzz` runs the files with `node --test` itself, since scripts/run-tests.mjs gives
 * each file 120 s (its --test-timeout also bounds the file as a whole).
 */
import fc from 'fast-check';

/** Seconds of properties in CI: with three processes and two server starts, ~50–55 s of wall time on two cores. */
const CI_SECONDS = 45;

/** An environment variable's number, checked; undefined when unset or empty. */
function numberFromEnv(name: string, valid: (value: number) => boolean, what: string): number | undefined {
  const text = process.env[name];
  if (text === undefined || text.trim() === '') return undefined;
  const value = Number(text);
  if (!valid(value)) throw new Error(`${name} must be ${what}, not '${text}'`);
  return value;
}

/** The whole suite's time in properties, in seconds. */
export function fuzzSeconds(): number {
  return numberFromEnv('MMS_FUZZ_SECONDS', (v) => Number.isFinite(v) && v > 0, 'a positive number of seconds') ?? CI_SECONDS;
}

/**
 * fast-check parameters for a property that takes `share` (0–1) of the suite's time. The shares
 * of all the properties under test/fuzz add up to 1 (each file says how it splits its part).
 */
export function fuzzParameters<T>(share: number): fc.Parameters<T> {
  const seed = numberFromEnv('MMS_FUZZ_SEED', Number.isSafeInteger, 'an integer (the seed a failure printed)');
  return {
    numRuns: 1_000_000_000,
    plugins: [fc.interruptAfterTimeLimit(share * fuzzSeconds() * 1000)],
    ...(seed !== undefined && { seed }),
  };
}

/**
 * node:test's timeout for a test running properties worth `share`: their time plus room for a
 * last run that the interruption abandons and for shrinking a failure.
 */
export function fuzzTestTimeoutMs(share: number): number {
  return share * fuzzSeconds() * 1000 + 60_000;
}
