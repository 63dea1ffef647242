/**
 * `npm run bench:caption` — captioning on a full-size random-weight ViT-GPT2 (ViT-B/16 encoder +
 * GPT-2 small decoder, fp32, CPU) through the server, with a fixed caption length
 * (min = max new tokens: random weights never say end-of-sequence):
 *   1. one client: decode tokens/s and captions/s;
 *   2. eight concurrent clients: the same, with the rows per decode step from the metrics;
 *   3. the same eight clients against a naive express + transformers.js `image-to-text` pipeline
 *      per request (bench/naive-caption-server.ts);
 *   4. the FLOPs of a caption by part: the encoder, the cross-attention keys and values over the
 *      197 image tokens (the export recomputes them at every step; the server computes them once
 *      per caption, see src/models/onnx/hoist-encoder-projections.ts), and one decode step.
 * Writes bench/results/caption.{json,md} (`--quick`: tiny model, bench/results/quick/).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ensureVitGpt2Model, VIT_GPT2_BASE, VIT_GPT2_TINY, type VitGpt2Spec } from '../src/models/generator/index.js';
import { defaultCacheDir } from '../src/server/config.js';
import { metricValue, runLoad, sharedPhotos, type LoadResult } from './load-generator.js';
import { freePort, startChild, startServer } from './processes.js';
import { cpuDescription } from './report.js';
import { round } from './stats.js';

const quick = process.argv.includes('--quick');
const settings = quick ? { spec: VIT_GPT2_TINY, name: 'tiny ViT-GPT2', tokens: 8, requests: { 1: 6, 8: 16 } } : { spec: VIT_GPT2_BASE, name: 'ViT-GPT2 (ViT-B/16 + GPT-2 small)', tokens: 20, requests: { 1: 12, 8: 48 } };
const CONCURRENCY = [1, 8] as const;
const outDir = path.join(import.meta.dirname, 'results', quick ? 'quick' : '');
const log = (message: string) => console.error(`[bench:caption] ${message}`);

interface CaptionRow {
  clients: number;
  load: LoadResult;
  tokensPerSecond: number;
  meanDecodeRows: number;
}


/** Multiply-adds × 2 of a caption by part: the encoder and the cross keys and values once, then each step per row at past length `past`. */
function captionFlops(spec: VitGpt2Spec, past: number) {
  const { hiddenSize: h, numLayers: layers, vocabSize } = spec.decoder;
  const { hiddenSize: eh, numLayers: encoderLayers, intermediateSize, imageSize, patchSize } = spec.encoder;
  const patches = (imageSize / patchSize) ** 2;
  const imageTokens = patches + 1;
  return {
    encoder: 2 * patches * 3 * patchSize ** 2 * eh + 2 * encoderLayers * (imageTokens * (4 * eh * eh + 2 * eh * intermediateSize) + 2 * imageTokens ** 2 * eh),
    crossKeysValues: 2 * layers * imageTokens * 2 * h * h,
    step: {
      selfAttentionAndMlp: 2 * layers * (4 * h * h + 8 * h * h + 2 * (past + 1) * h),
      crossQueryAndOutput: 2 * layers * (2 * h * h + 2 * imageTokens * h),
      lmHead: 2 * h * vocabSize,
    },
  };
}

async function main(): Promise<void> {
  const started = performance.now();
  const modelDir = await ensureVitGpt2Model(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  const photos = await sharedPhotos();
  log(`model ${modelDir} (${settings.name}), ${os.availableParallelism()} cores`);
  const { base, server } = await startServer('captioner', modelDir);
  const url = `${base}/v1/caption`;
  const fields = { max_new_tokens: String(settings.tokens), min_new_tokens: String(settings.tokens) };
  const series = (name: string) => `${name}{model="captioner",variant="fp32"}`;
  const rows: CaptionRow[] = [];
  try {
    await runLoad(url, 8, 8, photos, fields); // warm-up, not counted
    for (const clients of CONCURRENCY) {
      const before = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      const load = await runLoad(url, clients, settings.requests[clients], photos, fields);
      const after = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      const tokensPerSecond = ((load.statuses['200'] ?? 0) * settings.tokens) / load.seconds;
      const meanDecodeRows = (after[0]! - before[0]!) / (after[1]! - before[1]!);
      rows.push({ clients, load, tokensPerSecond, meanDecodeRows });
      log(`${clients} client(s): ${round(load.throughput, 3)} captions/s, ${round(tokensPerSecond)} tokens/s, ${round(meanDecodeRows)} rows per decode step, p50 ${round(load.ok.p50)} ms, statuses ${JSON.stringify(load.statuses)}`);
    }
  } finally {
    await server.stop();
  }
  // The naive server alone on the machine, the same load as ours at 8 clients.
  const naivePort = await freePort();
  const naive = await startChild('bench/naive-caption-server.ts', [modelDir, String(naivePort)], `http://127.0.0.1:${naivePort}/healthz`);
  let naiveRow: LoadResult;
  try {
    const naiveUrl = `http://127.0.0.1:${naivePort}/v1/caption`;
    await runLoad(naiveUrl, 8, 8, photos, fields);
    naiveRow = await runLoad(naiveUrl, 8, settings.requests[8], photos, fields);
    log(`naive, 8 clients: ${round(naiveRow.throughput, 3)} captions/s, p50 ${round(naiveRow.ok.p50)} ms, statuses ${JSON.stringify(naiveRow.statuses)}`);
  } finally {
    await naive.stop();
  }
  const flops = captionFlops(settings.spec, settings.tokens / 2);
  const perStep = Object.values(flops.step).reduce((a, b) => a + b, 0);
  const perCaption = flops.encoder + flops.crossKeysValues + settings.tokens * perStep;
  const [one, eight] = rows as [CaptionRow, CaptionRow];
  const gain = eight.tokensPerSecond / one.tokensPerSecond;
  const naiveTokensPerSecond = ((naiveRow.statuses['200'] ?? 0) * settings.tokens) / naiveRow.seconds;
  const result = { date: new Date().toISOString(), quick, cpu: await cpuDescription(), model: settings.name, tokens: settings.tokens, rows, naive: naiveRow, naiveTokensPerSecond, flops, gain, wallSeconds: (performance.now() - started) / 1000 };
  const pct = (x: number) => `${round((100 * x) / perCaption, 1)}%`;
  const gflop = (x: number) => `${round(x / 1e9, 2)} GFLOP`;
  const markdown = [
    `# Benchmark: captioning (${settings.name}), fp32, CPU${quick ? ' (quick: tiny model, not a measurement)' : ''}`,
    '',
    `${result.date} · ${result.cpu.model} · ${os.availableParallelism()} cores · \`npm run bench:caption${quick ? ' -- --quick' : ''}\` · random weights · ${settings.tokens} tokens per caption (min = max) · ${round(result.wallSeconds / 60, 1)} min`,
    '',
    '| clients | captions/s | decode tokens/s | rows per decode step (mean) | p50 ms | p95 ms |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.clients} (ours) | ${round(r.load.throughput, 3)} | ${round(r.tokensPerSecond)} | ${round(r.meanDecodeRows)} | ${round(r.load.ok.p50)} | ${round(r.load.ok.p95)} |`),
    `| 8 (naive: express + transformers.js image-to-text per request) | ${round(naiveRow.throughput, 3)} | ${round(naiveTokensPerSecond)} | 1 | ${round(naiveRow.ok.p50)} | ${round(naiveRow.ok.p95)} |`,
    '',
    `Ours ÷ naive at 8 clients: ${round(eight.tokensPerSecond / naiveTokensPerSecond)} × the tokens/s (the naive server ran alone on the machine after ours).`,
    '',
    `Tokens/s at 8 clients ÷ at 1: **${round(gain)}** (target ≥ 1.5: ${gain >= 1.5 ? 'met' : '**missed**'}). Tokens/s counts every caption's tokens over the row's wall time (encoder runs included).`,
    '',
    `One caption of ${settings.tokens} tokens: ${gflop(perCaption)} — the encoder ${gflop(flops.encoder)} (${pct(flops.encoder)}); ` +
      `the cross-attention keys and values over the image tokens ${gflop(flops.crossKeysValues)} (${pct(flops.crossKeysValues)}), computed once per caption ` +
      `(the export recomputes them at every step, which would add ${gflop((settings.tokens - 1) * flops.crossKeysValues)}); ${settings.tokens} decode steps of ${gflop(perStep)} per row ` +
      `(${pct(settings.tokens * perStep)}; of a step: self-attention and MLP ${round((100 * flops.step.selfAttentionAndMlp) / perStep)}%, cross-attention queries and output ${round((100 * flops.step.crossQueryAndOutput) / perStep)}%, ` +
      `the vocabulary projection ${round((100 * flops.step.lmHead) / perStep)}%). Batching decode steps shares the weights' memory traffic; encoder batches share little on a compute-bound CPU.`,
    '',
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'caption.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(path.join(outDir, 'caption.md'), markdown);
  console.log(markdown);
}

await main();
