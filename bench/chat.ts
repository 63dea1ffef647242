/**
 * `npm run bench:chat` — visual chat on a full-size random-weight SmolVLM-256M-shaped model
 * (SigLIP-B/16 at 512², 64 image tokens, SmolLM2-135M decoder; fp32, CPU) through the server's
 * OpenAI API, streamed, one image per chat, no splitting, a fixed answer length (min = max
 * tokens: random weights end turns at random):
 *   1. one chat at a time, then eight concurrent chats: tokens/s end to end (image encoding and
 *      prefill included), time to first token, rows per decode step (from the metrics);
 *   2. the same eight chats one after another through transformers.js' own `generate`
 *      (Idefics3 processor and model, the same folder), what a Node user would write.
 * Writes bench/results/chat.{json,md} (`--quick`: tiny model, bench/results/quick/).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { ensureSmolVlmModel, SMOLVLM_256M, SMOLVLM_TINY } from '../src/models/generator/index.js';
import { defaultCacheDir } from '../src/server/config.js';
import { metricValue, sharedPhotos, type Photo } from './load-generator.js';
import { startServer } from './processes.js';
import { cpuDescription } from './report.js';
import { round, summarize, type LatencySummary } from './stats.js';

const quick = process.argv.includes('--quick');
const settings = quick ? { spec: SMOLVLM_TINY, name: 'tiny SmolVLM-shaped model', tokens: 16, chats: { 1: 4, 8: 8 } } : { spec: SMOLVLM_256M, name: 'SmolVLM-256M-shaped model', tokens: 128, chats: { 1: 4, 8: 16 } };
const CONCURRENCY = [1, 8] as const;
const QUESTION = 'Describe this picture in detail.';
const outDir = path.join(import.meta.dirname, 'results', quick ? 'quick' : '');
const log = (message: string) => console.error(`[bench:chat] ${message}`);

interface ChatRow {
  clients: number;
  chats: number;
  seconds: number;
  tokens: number;
  tokensPerSecond: number;
  timeToFirstToken: LatencySummary;
  latency: LatencySummary;
  meanDecodeRows: number;
}

const dataUrl = (photo: Photo) => `data:${photo.type};base64,${Buffer.from(photo.bytes).toString('base64')}`;

/** One streamed chat: when its first text arrived, when it ended, and how many tokens it got. */
function streamedChat(url: string, agent: http.Agent, photo: Photo): Promise<{ firstTokenMs: number; totalMs: number; tokens: number }> {
  const body = JSON.stringify({
    messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl(photo) } }, { type: 'text', text: QUESTION }] }],
    max_tokens: settings.tokens,
    min_tokens: settings.tokens,
    stream: true,
    stream_options: { include_usage: true },
  });
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      let buffered = '';
      let firstTokenMs: number | undefined;
      let tokens = 0;
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buffered += chunk;
        for (let end = buffered.indexOf('\n\n'); end >= 0; end = buffered.indexOf('\n\n')) {
          const event = buffered.slice(0, end).replace(/^data: /, '');
          buffered = buffered.slice(end + 2);
          if (event === '[DONE]') continue;
          const parsed = JSON.parse(event) as { choices: { delta?: { content?: string } }[]; usage?: { completion_tokens: number }; error?: { message: string } };
          if (parsed.error) return reject(new Error(parsed.error.message));
          if (parsed.choices[0]?.delta?.content && firstTokenMs === undefined) firstTokenMs = performance.now() - started;
          if (parsed.usage) tokens = parsed.usage.completion_tokens;
        }
      });
      res.on('end', () => (res.statusCode === 200 ? resolve({ firstTokenMs: firstTokenMs ?? NaN, totalMs: performance.now() - started, tokens }) : reject(new Error(`status ${res.statusCode}: ${buffered}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `clients` closed loops until `chats` chats answered; the photos in turn. */
async function runChats(base: string, clients: number, chats: number, photos: Photo[]): Promise<Omit<ChatRow, 'meanDecodeRows'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const results: { firstTokenMs: number; totalMs: number; tokens: number }[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < chats) results.push(await streamedChat(`${base}/v1/chat/completions`, agent, photos[next++ % photos.length]!));
  }));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const tokens = results.reduce((sum, r) => sum + r.tokens, 0);
  return { clients, chats, seconds, tokens, tokensPerSecond: tokens / seconds, timeToFirstToken: summarize(results.map((r) => r.firstTokenMs)), latency: summarize(results.map((r) => r.totalMs)) };
}

/** The same chats, one after another, through transformers.js' Idefics3 processor and `generate`. */
async function naiveChats(modelDir: string, photos: Photo[], chats: number): Promise<{ seconds: number; tokens: number; tokensPerSecond: number }> {
  const { AutoModelForVision2Seq, AutoProcessor, RawImage, env } = await import('@huggingface/transformers');
  env.allowRemoteModels = false;
  env.localModelPath = path.dirname(modelDir);
  const processor = await AutoProcessor.from_pretrained(path.basename(modelDir));
  const model = await AutoModelForVision2Seq.from_pretrained(path.basename(modelDir), { dtype: 'fp32' });
  const messages = [{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: QUESTION }] }];
  const text = processor.apply_chat_template(messages as never, { add_generation_prompt: true }) as string;
  const chat = async (photo: Photo) => {
    const image = await RawImage.fromBlob(new Blob([Buffer.from(photo.bytes)], { type: photo.type }));
    const inputs = await processor(text, [image], { do_image_splitting: false });
    const output = (await model.generate({ ...inputs, max_new_tokens: settings.tokens, min_new_tokens: settings.tokens, do_sample: false } as never)) as { dims: number[] };
    return output.dims[1]! - (inputs.input_ids as { dims: number[] }).dims[1]!;
  };
  await chat(photos[0]!); // warm-up
  const started = performance.now();
  let tokens = 0;
  for (let i = 0; i < chats; i++) tokens += await chat(photos[i % photos.length]!);
  const seconds = (performance.now() - started) / 1000;
  await model.dispose();
  return { seconds, tokens, tokensPerSecond: tokens / seconds };
}

async function main(): Promise<void> {
  const started = performance.now();
  const modelDir = await ensureSmolVlmModel(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  const photos = await sharedPhotos();
  log(`model ${modelDir} (${settings.name}), ${os.availableParallelism()} cores`);
  const { base, server } = await startServer('chat', modelDir);
  const series = (name: string) => `${name}{model="chat",variant="fp32"}`;
  const rows: ChatRow[] = [];
  try {
    await runChats(base, 2, 2, photos); // warm-up, not counted
    for (const clients of CONCURRENCY) {
      const before = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      const row = await runChats(base, clients, settings.chats[clients], photos);
      const after = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      rows.push({ ...row, meanDecodeRows: (after[0]! - before[0]!) / (after[1]! - before[1]!) });
      log(`${clients} chat(s) at a time: ${round(row.tokensPerSecond)} tokens/s, TTFT p50 ${round(row.timeToFirstToken.p50)} ms, ${round(rows.at(-1)!.meanDecodeRows)} rows per decode step`);
    }
  } finally {
    await server.stop();
  }
  const naive = await naiveChats(modelDir, photos, 8);
  log(`transformers.js generate, 8 chats one after another: ${round(naive.tokensPerSecond)} tokens/s`);
  const [one, eight] = rows as [ChatRow, ChatRow];
  const gain = eight.tokensPerSecond / one.tokensPerSecond;
  const result = { date: new Date().toISOString(), quick, cpu: await cpuDescription(), model: settings.name, tokens: settings.tokens, rows, naive, gain, wallSeconds: (performance.now() - started) / 1000 };
  const markdown = [
    `# Benchmark: visual chat (${settings.name}), fp32, CPU${quick ? ' (quick: tiny model, not a measurement)' : ''}`,
    '',
    `${result.date} · ${result.cpu.model} · ${os.availableParallelism()} cores · \`npm run bench:chat${quick ? ' -- --quick' : ''}\` · random weights · one image per chat (one view, no splitting), ${settings.tokens} tokens per answer (min = max) · ${round(result.wallSeconds / 60, 1)} min`,
    '',
    '| chats at a time | chats | tokens/s (end to end) | time to first token p50 / p95 ms | chat latency p50 ms | rows per decode step (mean) |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.clients} (ours, streamed over HTTP) | ${r.chats} | ${round(r.tokensPerSecond)} | ${round(r.timeToFirstToken.p50)} / ${round(r.timeToFirstToken.p95)} | ${round(r.latency.p50)} | ${round(r.meanDecodeRows)} |`),
    `| 1 (transformers.js \`generate\`, the same 8 chats one after another, in process) | 8 | ${round(naive.tokensPerSecond)} | | ${round((1000 * naive.seconds) / 8)} (mean) | 1 |`,
    '',
    `Tokens/s at 8 chats ÷ at 1: **${round(gain)}** (target ≥ 3: ${gain >= 3 ? 'met' : '**missed**'}). Ours at 8 chats ÷ transformers.js one after another: ${round(eight.tokensPerSecond / naive.tokensPerSecond)} ×. ` +
      'Tokens/s counts every answer\'s tokens over the row\'s wall time: image encoding, prompt prefill and HTTP included.',
    '',
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'chat.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(path.join(outDir, 'chat.md'), markdown);
  console.log(markdown);
}

await main();
