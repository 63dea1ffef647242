/**
 * `npm run bench:zero-shot` — CLIP zero-shot on a full-size random-weight ViT-B/32 (fp32, CPU), in one run:
 *   1. limit: the bare vision tower (onnxruntime-node in worker threads), per layout and batch size;
 *   2. naive: express + a transformers.js `zero-shot-image-classification` pipeline per request
 *      (re-encodes every label's prompt on every call);
 *   3. ours: the server over HTTP (JSON, base64 image), started with --tune (it times its layouts
 *      first and serves with the fastest), 16 clients, 10 and 100 labels, warm cache,
 *      interleaved with the naive rows (ours, naive, ours) so that the machine's drift cancels;
 *   4. ours, one request at a time with 100 labels: cold cache (fresh labels) vs warm;
 *   5. the FLOP ratio naive ÷ ours (warm) from the model's dimensions, beside the measured one.
 * Writes JSON + a markdown table to bench/results/ (`--quick`: tiny CLIP, bench/results/quick/).
 * `--requests N` overrides the answers per load row.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AutoProcessor, env as transformersEnv, RawImage } from '@huggingface/transformers';
import { CLIP_B32, CLIP_TINY, ensureClipModel } from '../src/models/generator/index.js';
import { loadClipTokenizer } from '../src/models/clip/clip-tokenizer.js';
import { loadImageProcessorConfig, preprocessImage } from '../src/models/image/index.js';
import { defaultCacheDir } from '../src/server/config.js';
import { bareRowNear, measureBare, type BareResult, type Layout } from './bare-limit.js';
import { runJsonLoad } from './load-generator.js';
import { freePort, startChild, startServer, type ChildServer } from './processes.js';
import { cpuDescription } from './report.js';
import { measureRowCpu, profileLoad, stageTable, type RowCpu } from './stage-accounting.js';
import { expectedSpeedup, textFlops, visionFlops } from './zero-shot-flops.js';
import { labelSet } from './zero-shot-labels.js';
import { zeroShotReport, type ColdWarmSample, type ZeroShotBenchResult, type ZeroShotRow } from './zero-shot-report.js';

const quick = process.argv.includes('--quick');
const requestsFlag = process.argv.indexOf('--requests');
const cores = os.availableParallelism();
const settings = quick
  ? { spec: CLIP_TINY, name: 'tiny CLIP', requests: 24, warmupRequests: 16, oneClientRequests: 8, bareImages: 32, bareSeconds: 1, coldRepeats: 3, tuneSeconds: 0.2 }
  : { spec: CLIP_B32, name: 'CLIP ViT-B/32', requests: 100, warmupRequests: 32, oneClientRequests: 30, bareImages: 96, bareSeconds: 10, coldRepeats: 3, tuneSeconds: 3 };
if (requestsFlag > 0) settings.requests = Number(process.argv[requestsFlag + 1]);
const CLIENTS = 16;
const LABEL_COUNTS = [10, 100] as const;
const TEMPLATE = (label: string) => `a photo of a ${label}.`;
const BATCH_SIZES = [1, 4];
const MODEL_ID = 'clip';
const outDir = path.join(import.meta.dirname, 'results', quick ? 'quick' : '');
const sharedDir = process.env.SHARED_DIR ?? path.resolve(import.meta.dirname, '..', '..', 'shared');
const sharedImages = path.join(sharedDir, 'images');
/** The real openai/clip-vit-base-patch32 tokenizer files (no weights), when the shared folder has them. */
const realTokenizerDir = path.join(sharedDir, 'hf', 'clip-vit-base-patch32');
const log = (message: string) => console.error(`[bench:zero-shot] ${message}`);

interface ZeroShotAnswer {
  predictions: { label: string; score: number }[];
  cache?: { hits: number; misses: number };
  timing?: { text_ms: number; preprocess_ms: number; image_ms: number; total_ms: number };
}

async function loadPhotos(): Promise<{ name: string; bytes: Uint8Array; base64: string }[]> {
  const names = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'];
  return Promise.all(
    names.map(async (name) => {
      const bytes = await readFile(path.join(sharedImages, name));
      return { name, bytes: new Uint8Array(bytes), base64: bytes.toString('base64') };
    }),
  );
}

function layouts(): Layout[] {
  const candidates = [{ instances: 1, threads: cores }, { instances: cores, threads: 1 }];
  return candidates.filter((l, i) => candidates.findIndex((o) => o.instances === l.instances && o.threads === l.threads) === i);
}

/** Every sample of the named series in one /metrics scrape, keyed by the full series text. */
async function scrape(base: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${base}/metrics`)).text();
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const space = line.lastIndexOf(' ');
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

const series = {
  textItems: `mms_items_processed_total{model="${MODEL_ID}",component="text_model",variant="fp32"}`,
  visionItems: `mms_items_processed_total{model="${MODEL_ID}",component="vision_model",variant="fp32"}`,
  visionBatches: `mms_batch_size_count{model="${MODEL_ID}",component="vision_model",variant="fp32"}`,
  cacheHits: `mms_embedding_cache_requests_total{model="${MODEL_ID}",variant="fp32",result="hit"}`,
  cacheMisses: `mms_embedding_cache_requests_total{model="${MODEL_ID}",variant="fp32",result="miss"}`,
};
type Counters = Record<keyof typeof series, number>;

async function counters(base: string): Promise<Counters> {
  const values = await scrape(base);
  return Object.fromEntries(Object.entries(series).map(([key, name]) => [key, values.get(name) ?? 0])) as Counters;
}

function delta(after: Counters, before: Counters): Counters {
  return Object.fromEntries(Object.keys(series).map((key) => [key, after[key as keyof Counters] - before[key as keyof Counters]])) as Counters;
}

const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

async function postJson(url: string, body: unknown): Promise<{ ms: number; answer: ZeroShotAnswer }> {
  const t0 = performance.now();
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = (await res.json()) as ZeroShotAnswer;
  const ms = performance.now() - t0;
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${JSON.stringify(answer)}`);
  return { ms, answer };
}

async function main(): Promise<void> {
  const started = performance.now();
  const modelDir = await ensureClipModel(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  const photos = await loadPhotos();
  const image = await loadImageProcessorConfig(path.join(modelDir, 'preprocessor_config.json'), { defaultToSquare: false });
  const pixels = await Promise.all(photos.map(async (p) => (await preprocessImage(p.bytes, image, { maxPixels: 5e7 })).pixelValues));
  const itemDims = [3, settings.spec.imageSize, settings.spec.imageSize];
  if (pixels[0]!.length !== itemDims.reduce((a, b) => a * b)) throw new Error(`preprocessed ${pixels[0]!.length} values, expected ${itemDims.join('×')}`);
  const visionPath = path.join(modelDir, 'onnx', 'vision_model.onnx');
  log(`model ${modelDir} (${settings.name}), ${cores} cores, ${settings.requests} answers per load row`);

  // Label sets: the load rows' sets, then fresh sets for the cold requests (no prompt shared).
  const loadSets = Object.fromEntries(LABEL_COUNTS.map((n) => [n, labelSet(0, n)])) as Record<number, string[]>;
  const coldSets = Array.from({ length: settings.coldRepeats }, (_, i) => labelSet(100 + 100 * i, 100));
  const tokenizer = await loadClipTokenizer(modelDir, 77);
  const tokensOf = (labels: string[]) => labels.map((l) => tokenizer.encode(TEMPLATE(l)).ids.length);
  // The generated tokenizer has few merges, so its prompts are longer than the real CLIP's: count both.
  const realTokenizer = existsSync(path.join(realTokenizerDir, 'tokenizer.json')) ? await loadClipTokenizer(realTokenizerDir, 77) : undefined;

  // 1. The limit: the bare vision tower, per layout and batch size.
  const bareBudget = { minImages: settings.bareImages, minSeconds: settings.bareSeconds };
  const bare: BareResult[] = [];
  for (const layout of layouts()) {
    for (const batchSize of BATCH_SIZES) {
      const result = await measureBare(visionPath, layout, batchSize, pixels, itemDims, bareBudget, 'image_embeds');
      log(`bare vision ${layout.instances}×${layout.threads} batch ${batchSize}: ${result.imagesPerSecond.toFixed(2)} img/s`);
      bare.push(result);
    }
  }
  const best = bare.reduce((a, b) => (b.imagesPerSecond > a.imagesPerSecond ? b : a));

  // 2 + 3. Both servers up at once (an idle one costs nothing), rows interleaved so that the
  // machine's drift over minutes (shared cores) hits ours and naive alike: per label count
  // ours, naive, ours again; ours ÷ naive divides the mean of the two ours rows by the naive row.
  // Ours serves for throughput: it times its layouts at start (--tune) into a cache of its own,
  // which the profiled re-run below applies without timing again.
  const tuneCache = await mkdtemp(path.join(os.tmpdir(), 'mms-bench-tune-'));
  const tuned = ['--cache-dir', tuneCache];
  const tuneStarted = performance.now();
  const { base: oursBase, server: ours } = await startServer(MODEL_ID, modelDir, [...tuned, '--tune'], { env: { MMS_TUNE_SECONDS: String(settings.tuneSeconds) } });
  const startSeconds = (performance.now() - tuneStarted) / 1000;
  const oursUrl = `${oursBase}/v1/zero-shot`;
  let warmRowCpu: RowCpu | undefined;
  const naivePort = await freePort();
  const naiveBase = `http://127.0.0.1:${naivePort}`;
  const naiveUrl = `${naiveBase}/v1/zero-shot`;
  let naive: ChildServer | undefined;
  const oursRows: ZeroShotRow[] = [];
  const naiveRows: ZeroShotRow[] = [];
  const coldWarm: ColdWarmSample[] = [];
  let oursLayout: Layout;
  let oursTuning: ZeroShotBenchResult['oursTuning'];
  let oursAgreement: ZeroShotAnswer;
  let naiveAgreement: ZeroShotAnswer;
  const bodiesFor = (labels: string[]) => photos.map((p) => JSON.stringify({ image: p.base64, labels, top_k: 5 }));

  const oursRow = async (labelCount: number, clients: number, requests: number, phase: string) => {
    const bodies = bodiesFor(loadSets[labelCount]!);
    const before = await counters(oursBase);
    const { result, cpu } = await measureRowCpu(ours.process.pid!, async () => {
      const loaded = await runJsonLoad<ZeroShotAnswer>(oursUrl, clients, requests, (i) => bodies[i % bodies.length]!);
      return { ...loaded, images: loaded.statuses['200'] ?? 0 };
    });
    // The stage table's row: 10 labels, warm cache, the first 16-client row.
    if (labelCount === LABEL_COUNTS[0] && clients === CLIENTS && !warmRowCpu) warmRowCpu = cpu;
    const { answers, ...row } = result;
    const metrics = delta(await counters(oursBase), before);
    oursRows.push({
      ...row,
      labels: labelCount,
      phase,
      meanBatchFromMetrics: metrics.visionItems / metrics.visionBatches,
      metrics,
      meanTiming: {
        text_ms: mean(answers.map((a) => a.timing!.text_ms)),
        preprocess_ms: mean(answers.map((a) => a.timing!.preprocess_ms)),
        image_ms: mean(answers.map((a) => a.timing!.image_ms)),
        total_ms: mean(answers.map((a) => a.timing!.total_ms)),
      },
      cache: { hits: answers.reduce((s, a) => s + a.cache!.hits, 0), misses: answers.reduce((s, a) => s + a.cache!.misses, 0) },
    });
    log(
      `ours ${labelCount} labels, ${clients} clients (${phase}): ${row.throughput.toFixed(2)} img/s, p50 ${row.ok.p50.toFixed(0)} ms, ` +
        `text items ${metrics.textItems}, cache ${metrics.cacheHits} hits / ${metrics.cacheMisses} misses, statuses ${JSON.stringify(row.statuses)}`,
    );
    if (row.errors.length) log(`ours errors: ${row.errors.join(' | ')}`);
  };
  const naiveRow = async (labelCount: number) => {
    const bodies = bodiesFor(loadSets[labelCount]!);
    const { answers, ...row } = await runJsonLoad<ZeroShotAnswer>(naiveUrl, CLIENTS, settings.requests, (i) => bodies[i % bodies.length]!);
    naiveRows.push({ ...row, labels: labelCount, meanTiming: { total_ms: mean(answers.map((a) => a.timing!.total_ms)) } });
    log(`naive ${labelCount} labels, ${CLIENTS} clients: ${row.throughput.toFixed(2)} img/s, p50 ${row.ok.p50.toFixed(0)} ms, statuses ${JSON.stringify(row.statuses)}`);
    if (row.errors.length) log(`naive errors: ${row.errors.join(' | ')}`);
  };

  try {
    naive = await startChild('bench/naive-zero-shot-server.ts', [modelDir, String(naivePort)], `${naiveBase}/healthz`);
    type Listed = { id: string; instances: number; intra_op_threads: number; layout_source: string; batching: { max_batch_size: number } };
    const listed = (await (await fetch(`${oursBase}/v1/models`)).json()) as { data: Listed[] };
    const entry = listed.data.find((m) => m.id === MODEL_ID) ?? listed.data[0]!;
    oursLayout = { instances: entry.instances, threads: entry.intra_op_threads };
    oursTuning = { source: entry.layout_source, maxBatchSize: entry.batching.max_batch_size, startSeconds };
    log(`ours: layout ${entry.instances}×${entry.intra_op_threads} batch ≤ ${entry.batching.max_batch_size} (${entry.layout_source}), ready in ${startSeconds.toFixed(1)} s`);
    // The same request to both, every label's score, for the agreement check.
    oursAgreement = (await postJson(oursUrl, { image: photos[0]!.base64, labels: loadSets[10], top_k: 10 })).answer;
    naiveAgreement = (await postJson(naiveUrl, { image: photos[0]!.base64, labels: loadSets[10], top_k: 10 })).answer;

    // Warm-up loads (not counted): the first runs of each batch shape are slower (arena growth).
    const warmBodies = bodiesFor(loadSets[10]!);
    for (const [name, url] of [['ours', oursUrl], ['naive', naiveUrl]] as const) {
      const warm = await runJsonLoad(url, CLIENTS, settings.warmupRequests, (i) => warmBodies[i % warmBodies.length]!);
      log(`${name} warm-up (${settings.warmupRequests} requests, not counted): ${warm.throughput.toFixed(2)} img/s`);
    }

    for (const labelCount of LABEL_COUNTS) {
      // One uncounted request per label set to each: it fills our cache (warm rows).
      await postJson(oursUrl, { image: photos[0]!.base64, labels: loadSets[labelCount], top_k: 5 });
      await postJson(naiveUrl, { image: photos[0]!.base64, labels: loadSets[labelCount], top_k: 5 });
      await oursRow(labelCount, CLIENTS, settings.requests, 'before naive');
      await naiveRow(labelCount);
      await oursRow(labelCount, CLIENTS, settings.requests, 'after naive');
    }
    await oursRow(10, 1, settings.oneClientRequests, '1 client');

    // 4. Cold vs warm, one request at a time, 100 labels: each fresh set once (cold), then again (warm).
    for (const [i, labels] of coldSets.entries()) {
      for (const phase of ['cold', 'warm'] as const) {
        const before = await counters(oursBase);
        const { ms, answer } = await postJson(oursUrl, { image: photos[i % photos.length]!.base64, labels, top_k: 5 });
        const metrics = delta(await counters(oursBase), before);
        coldWarm.push({ phase, set: i, labels: labels.length, ms, timing: answer.timing!, cache: answer.cache!, textItems: metrics.textItems, visionItems: metrics.visionItems });
        log(`${phase} (set ${i}): ${ms.toFixed(0)} ms, text_ms ${answer.timing!.text_ms}, text items ${metrics.textItems}, cache ${JSON.stringify(answer.cache)}`);
      }
    }
  } finally {
    await Promise.all([ours.stop(), naive?.stop()]);
  }

  // Where the CPU goes: the warm 10-label load again, on a profiled server (stage-accounting.ts).
  const stageBodies = bodiesFor(loadSets[LABEL_COUNTS[0]]!);
  let profiledUrl = '';
  const stageLoad = (requests: number) => runJsonLoad(profiledUrl, CLIENTS, requests, (i) => stageBodies[i % stageBodies.length]!);
  const profiled = await profileLoad(
    async (options) => {
      const { base, server } = await startServer(MODEL_ID, modelDir, tuned, options);
      profiledUrl = `${base}/v1/zero-shot`;
      return server;
    },
    async () => ({ images: (await stageLoad(settings.requests)).statuses['200'] ?? 0 }),
    () => stageLoad(settings.warmupRequests), // also fills the cache: the measured window is warm
  );

  // The machine's speed drifts over minutes: the best bare row again, divide by the higher.
  await rm(tuneCache, { recursive: true, force: true });
  const bestAgain = await measureBare(visionPath, best, best.batchSize, pixels, itemDims, bareBudget, 'image_embeds');
  log(`bare vision ${best.instances}×${best.threads} batch ${best.batchSize} again: ${bestAgain.imagesPerSecond.toFixed(2)} img/s`);

  // Score agreement on the same request (same weights: towers + our scoring vs the combined graph).
  const naiveScores = new Map(naiveAgreement.predictions.map((p) => [p.label, p.score]));
  // Where a score difference comes from: transformers.js's own preprocessing vs ours (PIL's).
  transformersEnv.allowRemoteModels = false;
  transformersEnv.localModelPath = path.dirname(modelDir);
  const processor = await AutoProcessor.from_pretrained(path.basename(modelDir));
  const theirPixels = (await processor(await RawImage.fromBlob(new Blob([photos[0]!.bytes as Uint8Array<ArrayBuffer>])))).pixel_values.data as Float32Array;
  const meanAbsPixelDiff = mean(Array.from(pixels[0]!, (v, i) => Math.abs(v - theirPixels[i]!)));
  const agreement = {
    photo: photos[0]!.name,
    labels: loadSets[10]!.length,
    maxAbsScoreDiff: Math.max(...oursAgreement.predictions.map((p) => Math.abs(p.score - (naiveScores.get(p.label) ?? NaN)))),
    sameTop1: oursAgreement.predictions[0]!.label === naiveAgreement.predictions[0]!.label,
    meanAbsPixelDiff,
    oursTop3: oursAgreement.predictions.slice(0, 3),
    naiveTop3: naiveAgreement.predictions.slice(0, 3),
  };
  log(`scores ours vs naive: max |Δ| ${agreement.maxAbsScoreDiff.toExponential(2)}, same top-1: ${agreement.sameTop1}`);

  // 5. FLOPs: naive pads each request's prompts to the longest, so it pays max tokens per prompt.
  const flops = LABEL_COUNTS.map((labels) => {
    const tokens = tokensOf(loadSets[labels]!);
    const padded = Math.max(...tokens);
    const real = realTokenizer ? loadSets[labels]!.map((l) => realTokenizer.encode(TEMPLATE(l)).ids.length) : undefined;
    return {
      labels,
      meanTokens: mean(tokens),
      paddedTokens: padded,
      visionGflops: visionFlops(settings.spec) / 1e9,
      textGflopsPerPrompt: textFlops(settings.spec, padded) / 1e9,
      expectedSpeedup: expectedSpeedup(settings.spec, labels, padded),
      expectedSpeedupMeanTokens: expectedSpeedup(settings.spec, labels, mean(tokens)),
      realTokenizer: real && {
        meanTokens: mean(real),
        paddedTokens: Math.max(...real),
        expectedSpeedup: expectedSpeedup(settings.spec, labels, Math.max(...real)),
      },
    };
  });

  const result: ZeroShotBenchResult = {
    date: new Date().toISOString(),
    quick,
    cpu: await cpuDescription(),
    cores,
    model: { name: settings.name, spec: settings.spec, dir: modelDir, dtype: 'fp32' },
    clients: CLIENTS,
    requests: settings.requests,
    warmupRequests: settings.warmupRequests,
    template: TEMPLATE('{label}'),
    bare,
    best,
    bestAgain,
    oursLayout,
    oursTuning: oursTuning!,
    ours: oursRows,
    naive: naiveRows,
    coldWarm,
    coldSetTokens: coldSets.map((s) => ({ mean: mean(tokensOf(s)), max: Math.max(...tokensOf(s)) })),
    flops,
    agreement,
    stages: stagesFor(bare, oursLayout!, oursRows, warmRowCpu!, profiled),
    wallSeconds: (performance.now() - started) / 1000,
  };
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'zero-shot.json'), `${JSON.stringify(result, null, 2)}\n`);
  const markdown = zeroShotReport(result);
  await writeFile(path.join(outDir, 'zero-shot.md'), markdown);
  console.log(markdown);
  log(`done in ${result.wallSeconds.toFixed(0)} s`);
}

/** The stage table of the warm 10-label row, beside the bare vision tower at the batch size that row ran. */
function stagesFor(bare: BareResult[], layout: Layout, rows: ZeroShotRow[], cpu: RowCpu, profiled: ZeroShotBenchResult['stages']['profiled']) {
  const row = rows.find((r) => r.labels === LABEL_COUNTS[0] && r.clients === CLIENTS)!;
  const bareRow = bareRowNear(bare, layout, row.meanBatchFromMetrics ?? 1);
  return { bare: bareRow, cpu, profiled, table: stageTable(cpu, profiled, bareRow.cpuMsPerImage) };
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
