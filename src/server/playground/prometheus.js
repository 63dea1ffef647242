// @ts-check
/** The samples of a Prometheus text exposition (what `GET /metrics` answers), and rates over time. */

/** @typedef {{ name: string, labels: Record<string, string>, value: number }} Sample */

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** @param {string} text @param {(name: string) => boolean} [wanted] @returns {Sample[]} */
export function parseMetrics(text, wanted = () => true) {
  /** @type {Sample[]} */
  const samples = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match || !wanted(match[1] ?? '')) continue;
    /** @type {Record<string, string>} */
    const labels = {};
    for (const [, key, value] of (match[2] ?? '').matchAll(LABEL)) {
      labels[key ?? ''] = (value ?? '').replace(/\\n/g, '\n').replace(/\\(["\\])/g, '$1');
    }
    samples.push({ name: match[1] ?? '', labels, value: Number(match[3]) });
  }
  return samples;
}

/** @param {Sample[]} samples @param {string} name @param {(labels: Record<string, string>) => boolean} [where] */
export function sum(samples, name, where = () => true) {
  return samples.reduce((total, s) => (s.name === name && where(s.labels) ? total + s.value : total), 0);
}

/**
 * Counters' rates over a sliding window: each `add` records the counters' values at a time;
 * `rate(key)` is the increase over the window divided by its length (a restart's reset reads as 0).
 */
export class RateWindow {
  /** @param {number} windowMs */
  constructor(windowMs) {
    this.windowMs = windowMs;
    /** @type {{ at: number, values: Map<string, number> }[]} */
    this.points = [];
  }

  /** @param {number} at @param {Map<string, number>} values */
  add(at, values) {
    this.points.push({ at, values });
    while (this.points.length > 2 && at - (this.points[1]?.at ?? at) >= this.windowMs) this.points.shift();
  }

  /** Per second, or undefined before two points. @param {string} key */
  rate(key) {
    const first = this.points[0];
    const last = this.points[this.points.length - 1];
    if (!first || !last || last.at <= first.at) return undefined;
    const increase = (last.values.get(key) ?? 0) - (first.values.get(key) ?? 0);
    return Math.max(0, increase) / ((last.at - first.at) / 1000);
  }
}
