/**
 * `npm run bench:chat` — visual chat on a full-size random-weight SmolVLM-256M-shaped model
 * (SigLIP-B/16 at 512², 64 image tokens, SmolLM2-135M decoder; fp32, CPU) through the server's
 * OpenAI API, streamed, one image per chat, no splitting, a fixed answer length (min = max
 * tokens: random weights end turns at random; every chat a different image, so that none comes
 * from the server's image-feature cache):
 *   1. one chat at a time, then eight concurrent chats: decode tokens/s (the tokens after each
 *      chat's first, over the time some chat was between its first token and its last), tokens/s
 *      end to end (image encoding and prefill included), time to first token, rows per decode
 *      step (from the metrics);
 *   2. the same eight chats one after another through transformers.js' own `generate`
 *      (Idefics3 processor and model, the same folder), what a Node user would write.
 * Writes bench/results/chat.{json,md} (`--quick`: tiny model, bench/results/quick/).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import sharp from 'sharp';
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
  decodeTokensPerSecond: number;
  timeToFirstToken: LatencySummary;
  latency: LatencySummary;
  meanDecodeRows: number;
}

const dataUrl = (photo: Photo) => `data:${photo.type};base64,${Buffer.from(photo.bytes).toString('base64')}`;

interface ChatTimes {
  /** performance.now() at the request, its first text, its end. */
  startedAt: number;
  firstTokenAt: number;
  endedAt: number;
  tokens: number;
}

/** One streamed chat: when its first text arrived, when it ended, and how many tokens it got. */
function streamedChat(url: string, agent: http.Agent, photo: Photo): Promise<ChatTimes> {
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
      let firstTokenAt: number | undefined;
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
          if (parsed.choices[0]?.delta?.content && firstTokenAt === undefined) firstTokenAt = performance.now();
          if (parsed.usage) tokens = parsed.usage.completion_tokens;
        }
      });
      res.on('end', () => (res.statusCode === 200 ? resolve({ startedAt: started, firstTokenAt: firstTokenAt ?? NaN, endedAt: performance.now(), tokens }) : reject(new Error(`status ${res.statusCode}: ${buffered}`))));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** `count` different images: the shared photos in turn, each cut at its own offset and saved as JPEG. */
async function distinctPhotos(photos: Photo[], count: number): Promise<Photo[]> {
  return Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const source = photos[i % photos.length]!;
      const { width, height } = await sharp(source.bytes).metadata();
      const cut = 1 + Math.floor(i / photos.length);
      const bytes = await sharp(source.bytes).extract({ left: cut, top: cut, width: width - 2 * cut, height: height - 2 * cut }).jpeg({ quality: 92 }).toBuffer();
      return { name: `${source.name}#${i}`, bytes: new Uint8Array(bytes), type: 'image/jpeg' };
    }),
  );
}

/** `clients` closed loops until `chats` chats answered, each with the next of `photos`. */
async function runChats(base: string, clients: number, chats: number, photos: Photo[]): Promise<Omit<ChatRow, 'meanDecodeRows'>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: clients });
  const results: ChatTimes[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    while (next < chats) results.push(await streamedChat(`${base}/v1/chat/completions`, agent, photos[next++]!));
  }));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const tokens = results.reduce((sum, r) => sum + r.tokens, 0);
  const decodeTokens = results.reduce((sum, r) => sum + r.tokens - 1, 0);
  return {
    clients,
    chats,
    seconds,
    tokens,
    tokensPerSecond: tokens / seconds,
    decodeTokensPerSecond: decodeTokens / (decodingMs(results) / 1000),
    timeToFirstToken: summarize(results.map((r) => r.firstTokenAt - r.startedAt)),
    latency: summarize(results.map((r) => r.endedAt - r.startedAt)),
  };
}

/** How long some chat was decoding: the union of the chats' [first token, end] intervals. */
function decodingMs(results: readonly ChatTimes[]): number {
  const intervals = results.map((r) => [r.firstTokenAt, r.endedAt] as const).sort((a, b) => a[0] - b[0]);
  let total = 0;
  let [start, end] = intervals[0]!;
  for (const [from, to] of intervals.slice(1)) {
    if (from > end) {
      total += end - start;
      [start, end] = [from, to];
    } else end = Math.max(end, to);
  }
  return total + end - start;
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
  await chat(photos[chats]!); // warm-up
  const started = performance.now();
  let tokens = 0;
  for (let i = 0; i < chats; i++) tokens += await chat(photos[i]!);
  const seconds = (performance.now() - started) / 1000;
  await model.dispose();
  return { seconds, tokens, tokensPerSecond: tokens / seconds };
}

async function main(): Promise<void> {
  const started = performance.now();
  const modelDir = await ensureSmolVlmModel(settings.spec, { cacheDir: path.join(defaultCacheDir(process.env), 'generated') });
  // Warm-up, the rows, then transformers.js' chats: an image of its own each.
  const photos = await distinctPhotos(await sharedPhotos(), 2 + settings.chats[1] + settings.chats[8] + 9);
  const take = (count: number) => photos.splice(0, count);
  log(`model ${modelDir} (${settings.name}), ${os.availableParallelism()} cores`);
  const { base, server } = await startServer('chat', modelDir);
  const series = (name: string) => `${name}{model="chat",variant="fp32"}`;
  const rows: ChatRow[] = [];
  try {
    await runChats(base, 2, 2, take(2)); // warm-up, not counted
    for (const clients of CONCURRENCY) {
      const before = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      const row = await runChats(base, clients, settings.chats[clients], take(settings.chats[clients]));
      const after = await Promise.all([metricValue(base, series('mms_decode_batch_size_sum')), metricValue(base, series('mms_decode_batch_size_count'))]);
      rows.push({ ...row, meanDecodeRows: (after[0]! - before[0]!) / (after[1]! - before[1]!) });
      log(`${clients} chat(s) at a time: ${round(row.decodeTokensPerSecond)} decode tokens/s, ${round(row.tokensPerSecond)} tokens/s end to end, TTFT p50 ${round(row.timeToFirstToken.p50)} ms, ${round(rows.at(-1)!.meanDecodeRows)} rows per decode step`);
    }
  } finally {
    await server.stop();
  }
  const naive = await naiveChats(modelDir, take(9), 8);
  log(`transformers.js generate, 8 chats one after another: ${round(naive.tokensPerSecond)} tokens/s`);
  const [one, eight] = rows as [ChatRow, ChatRow];
  const gain = eight.decodeTokensPerSecond / one.decodeTokensPerSecond;
  const endToEndGain = eight.tokensPerSecond / one.tokensPerSecond;
  const result = { date: new Date().toISOString(), quick, cpu: await cpuDescription(), model: settings.name, tokens: settings.tokens, rows, naive, gain, endToEndGain, wallSeconds: (performance.now() - started) / 1000 };
  const markdown = [
    `# Benchmark: visual chat (${settings.name}), fp32, CPU${quick ? ' (quick: tiny model, not a measurement)' : ''}`,
    '',
    `${result.date} · ${result.cpu.model} · ${os.availableParallelism()} cores · \`npm run bench:chat${quick ? ' -- --quick' : ''}\` · random weights · one image per chat, a different one each (one view, no splitting; none from the feature cache), ${settings.tokens} tokens per answer (min = max) · ${round(result.wallSeconds / 60, 1)} min`,
    '',
    '| chats at a time | chats | decode tokens/s | tokens/s end to end | time to first token p50 / p95 ms | chat latency p50 ms | rows per decode step (mean) |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.clients} (ours, streamed over HTTP) | ${r.chats} | ${round(r.decodeTokensPerSecond)} | ${round(r.tokensPerSecond)} | ${round(r.timeToFirstToken.p50)} / ${round(r.timeToFirstToken.p95)} | ${round(r.latency.p50)} | ${round(r.meanDecodeRows)} |`),
    `| 1 (transformers.js \`generate\`, 8 chats one after another, in process) | 8 | | ${round(naive.tokensPerSecond)} | | ${round((1000 * naive.seconds) / 8)} (mean) | 1 |`,
    '',
    `Decode tokens/s at 8 chats ÷ at 1: **${round(gain)}** (target ≥ 3: ${gain >= 3 ? 'met' : '**missed**'}); end to end ${round(endToEndGain)} ×. ` +
      `Ours at 8 chats ÷ transformers.js one after another, end to end: ${round(eight.tokensPerSecond / naive.tokensPerSecond)} ×.`,
    '',
    'Decode tokens/s: every answer\'s tokens after its first, over the time some chat was between its first token and its last (image encodings of ' +
      'chats still arriving run meanwhile, on the same cores). End to end: every token over the row\'s wall time (HTTP, image encoding and prefill included). ' +
      'Each image is encoded once per chat (a 512² view through a ViT-B/16-sized encoder, 1024 patches), work that batching cannot share on a compute-bound CPU: ' +
      'that bounds the end-to-end gain of concurrency, and the time to first token of chats that arrive together.',
    '',
  ].join('\n');
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'chat.json'), `${JSON.stringify(result, null, 2)}\n`);
  await writeFile(path.join(outDir, 'chat.md'), markdown);
  console.log(markdown);
}

await main();
