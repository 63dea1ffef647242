/**
 * `npm run bench:decode` — the decode engine on a full-size BLIP-base-shaped text decoder
 * (BERT-base with cross-attention, random weights, fp32, CPU), through the real worker pool and
 * the masked scheduler, every caption a fixed length (min = max new tokens) over a fixed
 * 577-token image (decoding costs the same whatever the values):
 *   1. one sequence at a time: decode tokens/s;
 *   2. eight clients arriving staggered (each starts 1/8 of a caption after the one before,
 *      then captions back to back): continuous batching, newcomers spliced into the running batch;
 *   3. the same arrivals in cohorts (a batch takes newcomers only before its first call).
 * Writes bench/results/decode.{json,md} (`--quick`: tiny model, bench/results/quick/).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { BLIP_BASE, BLIP_TINY, BLIP_TOKENS, blipCacheNames, ensureBlipModel, SeededRandom, type BlipSpec } from '../src/models/generator/index.js';
import type { PlainTensor } from '../src/models/session/tensor.js';
import { WorkerPool } from '../src/models/session/worker-pool.js';
import { MaskedScheduler } from '../src/pipelines/generation/masked-scheduler.js';
import { defaultCacheDir } from '../src/server/config.js';
import { cpuDescription } from './report.js';
import { round } from './stats.js';

const quick = process.argv.includes('--quick');
const settings = quick
  ? { spec: BLIP_TINY, name: 'tiny BLIP', tokens: 8, rounds: 2 }
  : { spec: BLIP_BASE, name: 'BLIP-base-shaped (BERT-base decoder with cross-attention, 577 image tokens)', tokens: 32, rounds: 3 };
const CLIENTS = 8;
const outDir = path.join(import.meta.dirname, 'results', quick ? 'quick' : '');
const log = (message: string) => console.error(`[bench:decode] ${message}`);

interface Run {
  name: string;
  sequences: number;
  seconds: number;
  tokensPerSecond: number;
  meanRowsPerCall: number;
}

function schedulerFor(pool: WorkerPool, spec: BlipSpec, cohortsOnly: boolean, onStep: (rows: number) => void): MaskedScheduler {
  return new MaskedScheduler(
    {
      pool,
      prefillSession: 'prefill',
      stepSession: 'step',
      ...blipCacheNames(spec.text.numLayers),
      encoderInput: 'encoder_hidden_states',
      padTokenId: BLIP_TOKENS.pad,
      startTokenId: BLIP_TOKENS.bos,
      eosTokenIds: [BLIP_TOKENS.sep],
      instances: 1,
      cohortsOnly,
    },
    { maxActiveRows: CLIENTS, maxCohortRows: CLIENTS, maxQueued: 64 },
    { onStep },
  );
}

async function measure(name: string, pool: WorkerPool, cohortsOnly: boolean, clients: number, staggerMs: number, imageTokens: PlainTensor): Promise<Run> {
  const rows: number[] = [];
  const scheduler = schedulerFor(pool, settings.spec, cohortsOnly, (n) => rows.push(n));
  const caption = () => scheduler.submit({ encoderStates: { ...imageTokens, data: imageTokens.data.slice() }, maxNewTokens: settings.tokens, sampling: { minNewTokens: settings.tokens } });
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async (_, client) => {
      await new Promise((resolve) => setTimeout(resolve, client * staggerMs));
      for (let i = 0; i < settings.rounds; i++) await caption();
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const sequences = clients * settings.rounds;
  const run = { name, sequences, seconds, tokensPerSecond: (sequences * settings.tokens) / seconds, meanRowsPerCall: rows.reduce((a, b) => a + b, 0) / rows.length };
  log(`${name}: ${round(run.tokensPerSecond)} tokens/s, ${round(run.meanRowsPerCall)} rows per call, ${round(seconds)} s`);
  return run;
}

async function main(): Promise<void> {
  const started = performance.now();
  const dir = await ensureBlipModel(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  log(`model ${dir} (${settings.name}), ${os.availableParallelism()} cores`);
  const pool = await WorkerPool.create({
    sessions: { prefill: path.join(dir, 'onnx', 'decoder_model.onnx'), step: path.join(dir, 'onnx', 'decoder_with_past_model.onnx') },
    instances: 1,
    intraOpThreads: os.availableParallelism(),
    providers: ['cpu'],
    requireProvider: false,
    allowSpinning: true,
  });
  const tokens = (settings.spec.vision.imageSize / settings.spec.vision.patchSize) ** 2 + 1;
  const width = settings.spec.vision.hiddenSize;
  const imageTokens: PlainTensor = { type: 'float32', dims: [1, tokens, width], data: new SeededRandom(5).normalArray(tokens * width, 1) };
  const runs: Run[] = [];
  try {
    await measure('warm-up', pool, false, 2, 0, imageTokens);
    const alone = await measure('1 client', pool, false, 1, 0, imageTokens);
    const staggerMs = (1000 * alone.seconds) / alone.sequences / CLIENTS;
    runs.push(alone);
    runs.push(await measure(`${CLIENTS} clients, staggered, continuous batching`, pool, false, CLIENTS, staggerMs, imageTokens));
    runs.push(await measure(`${CLIENTS} clients, staggered, cohorts`, pool, true, CLIENTS, staggerMs, imageTokens));
  } finally {
    await pool.close();
  }
  const [one, continuous, cohorts] = runs as [Run, Run, Run];
  const gain = continuous.tokensPerSecond / one.tokensPerSecond;
  const result = { date: new Date().toISOString(), quick, cpu: await cpuDescription(), model: settings.name, tokens: settings.tokens, runs, gain, overCohorts: continuous.tokensPerSecond / cohorts.tokensPerSecond, wallSeconds: (performance.now() - started) / 1000 };
  const markdown = [
    `# Benchmark: the decode engine (${settings.name}), fp32, CPU${quick ? ' (quick: tiny model, not a measurement)' : ''}`,
    '',
    `${result.date} · ${result.cpu.model} · ${os.availableParallelism()} cores · \`npm run bench:decode${quick ? ' -- --quick' : ''}\` · random weights · ${settings.tokens} tokens per caption (min = max) · one worker × ${os.availableParallelism()} threads · ${round(result.wallSeconds / 60, 1)} min`,
    '',
    '| arrivals | captions | decode tokens/s | rows per session call (mean) | seconds |',
    '|---|---|---|---|---|',
    ...runs.map((r) => `| ${r.name} | ${r.sequences} | ${round(r.tokensPerSecond)} | ${round(r.meanRowsPerCall)} | ${round(r.seconds)} |`),
    '',
    `Tokens/s at ${CLIENTS} staggered clients ÷ at 1: **${round(gain)}** (target ≥ 3: ${gain >= 3 ? 'met' : '**missed**'}); continuous batching ÷ cohorts for the same arrivals: **${round(result.overCohorts)}**.`,
    'Session calls count prefills (newcomers\' first call, their prompt and the cross-attention keys and values over the image tokens) and decode steps.',
    '',
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'decode.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(path.join(outDir, 'decode.md'), markdown);
  console.log(markdown);
}

await main();
