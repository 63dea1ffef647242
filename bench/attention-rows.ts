/**
 * The attention rows of `npm run bench`, on the server already running the ViT: plain
 * classification, attention maps of the last layer (JSON), rollout over every layer (JSON) and
 * the last layer drawn as a PNG, each at 16 clients; plain classification again last (the
 * machine's speed drifts, so explain ÷ plain divides by the mean of the two plain rows). One
 * client, JSON then PNG, gives the drawing's latency.
 */
import { runLoad, type LoadResult, type Photo } from './load-generator.js';
import { round } from './stats.js';

export interface AttentionRow {
  name: string;
  route: string;
  fields: Record<string, string>;
  result: LoadResult;
}

export interface AttentionBench {
  rows: AttentionRow[];
  /** One client: the last layer as JSON, then as a PNG. */
  single: { json: LoadResult; png: LoadResult };
}

const ROWS: Omit<AttentionRow, 'result'>[] = [
  { name: 'plain classification', route: '/v1/classify', fields: {} },
  { name: 'attention, last layer (cls, json)', route: '/v1/attention', fields: { format: 'json' } },
  { name: 'rollout over every layer (json)', route: '/v1/attention', fields: { method: 'rollout', format: 'json' } },
  { name: 'attention, last layer, PNG over the photo', route: '/v1/attention', fields: { format: 'png' } },
  { name: 'plain classification, again', route: '/v1/classify', fields: {} },
];

export async function measureAttention(base: string, photos: Photo[], requests: number, log: (message: string) => void): Promise<AttentionBench> {
  const rows: AttentionRow[] = [];
  for (const row of ROWS) {
    const result = await runLoad(`${base}${row.route}`, 16, requests, photos, row.fields);
    rows.push({ ...row, result });
    log(`${row.name}, 16 clients: ${result.throughput.toFixed(2)} img/s (${JSON.stringify(result.statuses)})`);
  }
  const singleRequests = Math.max(8, Math.round(requests / 5));
  const json = await runLoad(`${base}/v1/attention`, 1, singleRequests, photos, { format: 'json' });
  const png = await runLoad(`${base}/v1/attention`, 1, singleRequests, photos, { format: 'png' });
  return { rows, single: { json, png } };
}

/** explain ÷ plain (mean of the two plain rows) at 16 clients, for each attention row. */
export function attentionRatios(bench: AttentionBench): { name: string; ratio: number }[] {
  const plain = bench.rows.filter((row) => row.route === '/v1/classify').map((row) => row.result.throughput);
  const plainMean = plain.reduce((a, b) => a + b, 0) / plain.length;
  return bench.rows.filter((row) => row.route !== '/v1/classify').map((row) => ({ name: row.name, ratio: row.result.throughput / plainMean }));
}

export function attentionMarkdown(bench: AttentionBench): string {
  const ratios = new Map(attentionRatios(bench).map((r) => [r.name, r.ratio]));
  const byName = (name: string) => bench.rows.find((row) => row.name === name)!.result;
  const json = byName('attention, last layer (cls, json)');
  const png = byName('attention, last layer, PNG over the photo');
  const pngCostMs = 1000 / png.throughput - 1000 / json.throughput;
  const lastLayer = ratios.get('attention, last layer (cls, json)')!;
  return [
    '## Attention maps (16 clients, the photos in turn, multipart)',
    '',
    'Rows in this order on one server; ÷ plain divides by the mean of the two plain rows.',
    '',
    '| row | img/s | p50 | p95 | ÷ plain |',
    '|---|---|---|---|---|',
    ...bench.rows.map(
      (row) =>
        `| ${row.name} | ${round(row.result.throughput)} | ${round(row.result.ok.p50, 1)} | ${round(row.result.ok.p95, 1)} | ${ratios.has(row.name) ? round(ratios.get(row.name)!) : ''} |`,
    ),
    '',
    `Drawing the PNG (decode the photo at its size, blend, encode) costs ${round(pngCostMs, 1)} ms of the machine per image at saturation ` +
      `(1000 ÷ PNG img/s − 1000 ÷ JSON img/s) and ${round(bench.single.png.ok.p50 - bench.single.json.ok.p50, 1)} ms of latency at one client ` +
      `(p50 ${round(bench.single.png.ok.p50, 1)} vs ${round(bench.single.json.ok.p50, 1)} ms).`,
    '',
    `- attention maps (last layer, json) ÷ plain classification at 16 clients ≥ 0.8: ${round(lastLayer, 3)} — ${lastLayer >= 0.8 ? 'met' : '**missed**'}`,
    '',
  ].join('\n');
}
