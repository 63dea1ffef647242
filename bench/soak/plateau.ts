/**
 * Does memory plateau? A least-squares line through RSS over the second half of the run (its slope
 * in MiB per minute), and the growth from the first post-warm-up quarter's median to the last
 * quarter's.
 *
 * Threshold: a slope under 1% of the second half's mean RSS per minute is a plateau. A healthy
 * server's RSS moves with V8's heap sizing, onnxruntime's arenas and the allocator by a few
 * percent, but not steadily in one direction for minutes; a leak that grows with the request
 * rate does. 1% per minute (~18 MiB/min for the demo server's ~1.8 GiB under load) is ~25 GiB a
 * day, a server that dies within hours. It is also about three standard errors of the fitted
 * slope in a healthy 10-minute run: RSS jumps by ±70 MiB between 5-second samples (measured in
 * 1-minute runs), which over the 60 samples of a 5-minute half gives a slope error of ~6 MiB/min.
 * Slower leaks need longer soaks (`--minutes 60`); the growth figure shows them first.
 */

export const PLATEAU_SLOPE_FRACTION_PER_MINUTE = 0.01;
/** The first tenth of the run is warm-up: caches fill, V8 and the allocator size themselves. */
export const WARM_UP_FRACTION = 0.1;

export interface PlateauVerdict {
  slopeMiBPerMinute: number;
  /** The slope's standard error (how much sample-to-sample noise alone moves it). */
  slopeErrorMiBPerMinute: number;
  /** The slope as a fraction of the second half's mean RSS. */
  slopeFractionPerMinute: number;
  thresholdMiBPerMinute: number;
  /** Median RSS of the first post-warm-up quarter and of the last quarter, and their ratio - 1. */
  earlyMedianMiB: number;
  lateMedianMiB: number;
  growth: number;
  samplesFitted: number;
  plateau: boolean;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** The least-squares slope of y over x and its standard error (NaN for too few points). */
export function slope(points: readonly { x: number; y: number }[]): { slope: number; error: number } {
  const n = points.length;
  const meanX = points.reduce((s, p) => s + p.x, 0) / n;
  const meanY = points.reduce((s, p) => s + p.y, 0) / n;
  let sxy = 0;
  let sxx = 0;
  for (const p of points) {
    sxy += (p.x - meanX) * (p.y - meanY);
    sxx += (p.x - meanX) ** 2;
  }
  const fitted = sxx > 0 ? sxy / sxx : NaN;
  const squaredResiduals = points.reduce((sum, p) => sum + (p.y - meanY - fitted * (p.x - meanX)) ** 2, 0);
  return { slope: fitted, error: n > 2 ? Math.sqrt(squaredResiduals / (n - 2) / sxx) : NaN };
}

/** `samples` are (seconds since the load started, RSS MiB); `durationSeconds` the whole load. */
export function plateauVerdict(samples: readonly { t: number; rssMiB: number }[], durationSeconds: number): PlateauVerdict {
  const secondHalf = samples.filter((s) => s.t >= durationSeconds / 2);
  const { slope: slopeMiBPerMinute, error: slopeErrorMiBPerMinute } = slope(secondHalf.map((s) => ({ x: s.t / 60, y: s.rssMiB })));
  const meanRss = secondHalf.reduce((sum, s) => sum + s.rssMiB, 0) / secondHalf.length;
  const warmUp = durationSeconds * WARM_UP_FRACTION;
  const quarter = durationSeconds / 4;
  const earlyMedianMiB = median(samples.filter((s) => s.t >= warmUp && s.t <= warmUp + quarter).map((s) => s.rssMiB));
  const lateMedianMiB = median(samples.filter((s) => s.t >= durationSeconds - quarter).map((s) => s.rssMiB));
  const thresholdMiBPerMinute = PLATEAU_SLOPE_FRACTION_PER_MINUTE * meanRss;
  return {
    slopeMiBPerMinute,
    slopeErrorMiBPerMinute,
    slopeFractionPerMinute: slopeMiBPerMinute / meanRss,
    thresholdMiBPerMinute,
    earlyMedianMiB,
    lateMedianMiB,
    growth: lateMedianMiB / earlyMedianMiB - 1,
    samplesFitted: secondHalf.length,
    // Too few samples to fit a line is not evidence of a plateau.
    plateau: secondHalf.length >= 3 && slopeMiBPerMinute < thresholdMiBPerMinute,
  };
}
