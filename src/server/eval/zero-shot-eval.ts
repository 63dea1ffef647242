/**
 * `eval zero-shot`: CLIP zero-shot accuracy per prompt strategy, before and after a fitted
 * modality-gap alignment, measured against the real server started in this process.
 *
 * How the numbers are computed (one design, stated once):
 * - Image embeddings come from /v1/embeddings (data: URLs, in chunks), once; or from the file.
 * - Label embeddings come from /v1/embeddings of each strategy's prompts, combined with the
 *   server's own `promptsFor` and `meanOfNormalised`, i.e. exactly what /v1/zero-shot uses.
 * - Top-1 accuracy is the argmax of the cosine (the server's softmax(scale · cosine) is monotone
 *   in it), counted client-side by the server's `gapStats`.
 * - The alignment is fitted by the server only (POST /v1/zero-shot/alignments on the fit split's
 *   embeddings, holdout 0: the split is ours, stratified and seeded). Its map is read back from
 *   the server's alignment store (the cache dir this command gave the server, parsed by the
 *   server's `AlignmentStore`) and applied by the server's `applyAlignment`: nothing about the
 *   alignment is reimplemented here, and nothing is added to the server.
 * - Checks: the server's own fit-split accuracy before/after (its answer) must equal ours on the
 *   fit split; with images, a few held-out images per strategy are also scored by /v1/zero-shot
 *   (without and with the alignment) and must get our top-1. Disagreements are reported.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import sharp from 'sharp';
import { applyAlignment } from '../../pipelines/alignment/procrustes.js';
import { ENSEMBLE_TEMPLATES } from '../../pipelines/zero-shot-prompts.js';
import { AlignmentStore } from '../alignment-store.js';
import { loadConfig } from '../config.js';
import { startServer, type RunningServer } from '../server.js';
import { UsageError, type EvalArgs } from './args.js';
import { EvalClient, ServerError, type PromptOptions } from './client.js';
import { loadDescriptions, loadEmbeddingsFile, loadImageFolder, type Dataset } from './dataset.js';
import { fitPca2 } from './pca.js';
import { renderPlotPng } from './plot.js';
import { countProgress } from './progress.js';
import { labelEmbeddings, statsOf, top1 } from './scoring.js';
import { stratifiedSplit } from './split.js';
import type { StrategyRow } from './table.js';

export const STRATEGIES = ['plain', 'template', 'ensemble', 'descriptive'] as const;
export type Strategy = (typeof STRATEGIES)[number];

const ZERO_SHOT_TASK = 'zero-shot-image-classification';
/** Images per /v1/embeddings request, and the most base64 bytes in one (the JSON body limit is 32 MiB). */
const IMAGE_CHUNK = 16;
const IMAGE_CHUNK_BYTES = 16 * 1024 * 1024;

export interface EvalIO {
  stderr: NodeJS.WriteStream;
}

export interface ZeroShotEvalResult {
  model: string;
  randomWeights: boolean;
  labels: string[];
  examples: number;
  fitExamples: number;
  heldOutExamples: number;
  rows: StrategyRow[];
  /** What the checks against the server found: agreements, and each disagreement in words. */
  checks: { compared: number; disagreements: string[] };
  warnings: string[];
  plot: { file: string; width: number; height: number };
  cacheDir: string | undefined;
}

const dataUrl = async (image: { file: string; type: string }) => `data:${image.type};base64,${(await readFile(image.file)).toString('base64')}`;

/** Embeds the dataset's images through /v1/embeddings, chunk by chunk, with a progress bar. */
async function embedImages(client: EvalClient, model: string, images: { file: string; type: string }[], io: EvalIO): Promise<Float32Array[]> {
  const progress = countProgress(io.stderr, 'embedding images', images.length);
  const vectors: Float32Array[] = [];
  try {
    let next = 0;
    while (next < images.length) {
      const chunk: { file: string; url: string }[] = [];
      let bytes = 0;
      while (next < images.length && chunk.length < IMAGE_CHUNK && (chunk.length === 0 || bytes < IMAGE_CHUNK_BYTES)) {
        const url = await dataUrl(images[next]!);
        chunk.push({ file: images[next]!.file, url });
        bytes += url.length;
        next++;
      }
      try {
        vectors.push(...(await client.embed(model, chunk.map((c) => c.url))));
      } catch (error) {
        // A client error for the chunk: find the image it is about, and name it.
        if (!(error instanceof ServerError) || error.status >= 500 || error.status === 429) throw error;
        for (const item of chunk) {
          try {
            await client.embed(model, [item.url]);
          } catch (single) {
            if (single instanceof ServerError && single.status < 500) throw new UsageError(`cannot embed ${item.file}: ${single.code}: ${single.message}`);
            throw single;
          }
        }
        throw error;
      }
      progress.increment(chunk.length);
    }
  } finally {
    progress.stop();
  }
  return vectors;
}

/** The one served model: a ready CLIP, or a clear error. */
async function servedClip(client: EvalClient): Promise<{ id: string; randomWeights: boolean }> {
  const models = await client.models();
  const model = models[0];
  if (!model || models.length !== 1) throw new Error(`expected one served model, the server has ${models.length}`);
  // Not loading (failed, missing from the cache): what the flags named cannot be served, so exit 2 with the server's reason.
  if (model.state !== 'ready') throw new UsageError(`model '${model.id}' is not ready (${model.state})${model.error ? `: ${model.error}` : ''}`);
  if (model.task !== ZERO_SHOT_TASK) throw new UsageError(`model '${model.id}' is an ${model.task} model; zero-shot evaluation needs a CLIP model`);
  return { id: model.id, randomWeights: model.random_weights === true };
}

function promptOptions(strategy: Strategy, descriptions: Record<string, string[]> | undefined): PromptOptions {
  return strategy === 'descriptive' ? { strategy, descriptions: descriptions! } : { strategy };
}

/** Prompts the largest strategy makes: the server's per-request cap is raised to fit it (the server is ours). */
function promptsNeeded(labels: readonly string[], descriptions: Record<string, string[]> | undefined): number {
  const described = descriptions ? labels.reduce((n, l) => n + descriptions[l]!.length, 0) : 0;
  return Math.max(labels.length * ENSEMBLE_TEMPLATES.length, described);
}

const near = (a: number, b: number, tolerance: number) => Math.abs(a - b) <= tolerance;

export async function runZeroShotEval(args: EvalArgs, io: EvalIO): Promise<ZeroShotEvalResult> {
  const data: Dataset = args.data !== undefined ? await loadImageFolder(args.data) : await loadEmbeddingsFile(args.embeddings!);
  const descriptions = args.descriptions !== undefined ? await loadDescriptions(args.descriptions, data.labels) : undefined;
  const split = stratifiedSplit(data.labelOf, data.labels, args.holdout, args.seed);
  const everything = data.labelOf.map((_, i) => i);

  const temporaryCache = args.cacheDir === undefined;
  const cacheDir = args.cacheDir ?? (await mkdtemp(path.join(os.tmpdir(), 'mms-eval-')));
  let server: RunningServer | undefined;
  // Ctrl-C or a TERM still closes the server and removes the temporary folder.
  const cleanup = async () => {
    const running = server;
    server = undefined;
    await running?.close();
    if (temporaryCache) await rm(cacheDir, { recursive: true, force: true });
  };
  const onSignal = (signal: NodeJS.Signals) => {
    io.stderr.write(`\n${signal}: closing the server\n`);
    void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);

  try {
    const modelFlags = args.modelDir !== undefined ? ['--model-dir', args.modelDir] : ['--model', args.model!];
    let config;
    try {
      config = loadConfig(['--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', '--cache-dir', cacheDir, '--log-level', 'silent', ...modelFlags], process.env);
    } catch (error) {
      throw new UsageError(error instanceof Error ? error.message : String(error));
    }
    config = { ...config, limits: { ...config.limits, maxPrompts: Math.max(config.limits.maxPrompts, promptsNeeded(data.labels, descriptions)) } };
    try {
      server = await startServer(config, pino({ level: 'silent' }));
    } catch (error) {
      // Start-up fails before anything loads only for what the flags say (an unknown catalog id, a bad folder).
      throw new UsageError(`cannot start the server: ${error instanceof Error ? error.message : String(error)}`);
    }
    await server.loaded;
    const client = new EvalClient(`http://127.0.0.1:${server.httpPort}`);
    const model = await servedClip(client);

    const images = data.images ? await embedImages(client, model.id, data.images, io) : data.embeddings!;
    const warnings = new Set<string>();
    const disagreements: string[] = [];
    let compared = 0;
    const rows: StrategyRow[] = [];
    let plotInputs: { labelVectors: Float32Array[]; aligned: Float32Array[]; heldBefore: number; heldAfter: number } | undefined;

    for (const strategy of STRATEGIES) {
      if (strategy === 'descriptive' && !descriptions) {
        rows.push({ strategy, skipped: 'no --descriptions given' });
        continue;
      }
      const prompts = promptOptions(strategy, descriptions);
      const labelVectors = await labelEmbeddings(client, model.id, data.labels, prompts);
      if (labelVectors[0]!.length !== images[0]!.length) {
        throw new UsageError(`the embeddings have ${images[0]!.length} dimensions; model '${model.id}' embeds in ${labelVectors[0]!.length}`);
      }

      // The alignment: fitted by the server on the fit split (in label order, as the server orders labels by first appearance).
      const name = `eval-${strategy}`;
      const fitOrder = [...split.fit].sort((a, b) => data.labelOf[a]! - data.labelOf[b]! || a - b);
      const answer = await client.fitAlignment(
        name,
        model.id,
        prompts,
        fitOrder.map((i) => ({ embedding: images[i]!, label: data.labels[data.labelOf[i]!]! })),
        args.seed,
      );
      for (const warning of answer.warnings) warnings.add(`alignment ${name}: ${warning}`);
      const store = new AlignmentStore(path.join(cacheDir, 'alignments'));
      await store.load();
      const map = store.get(name).map;
      const aligned = images.map((v) => applyAlignment(map, v));

      const heldBefore = statsOf(images, data.labelOf, split.held, labelVectors);
      const heldAfter = statsOf(aligned, data.labelOf, split.held, labelVectors);
      rows.push({
        strategy,
        accuracyAll: statsOf(images, data.labelOf, everything, labelVectors).accuracy,
        accuracyHeldOut: heldBefore.accuracy,
        accuracyHeldOutAligned: heldAfter.accuracy,
        gapBefore: heldBefore.centroidDistance,
        gapAfter: heldAfter.centroidDistance,
      });

      // Check 1: the server's fit-split statistics against ours on the same split.
      const fitBefore = statsOf(images, data.labelOf, fitOrder, labelVectors);
      const fitAfter = statsOf(aligned, data.labelOf, fitOrder, labelVectors);
      for (const [when, ours, theirs] of [
        ['before', fitBefore, answer.stats.fit.before],
        ['after', fitAfter, answer.stats.fit.after],
      ] as const) {
        compared++;
        if (!near(ours.accuracy, theirs.accuracy, 1e-9) || !near(ours.meanCosine, theirs.mean_cosine, 1e-4)) {
          disagreements.push(
            `${strategy}: fit-split ${when} alignment, ours accuracy ${ours.accuracy.toFixed(4)} / mean cosine ${ours.meanCosine.toFixed(5)}, server ${theirs.accuracy.toFixed(4)} / ${theirs.mean_cosine.toFixed(5)}`,
          );
        }
      }

      // Check 2: a few held-out images through /v1/zero-shot itself, without and with the alignment.
      if (data.images && args.spotCheck > 0) {
        const sample = split.held.slice(0, args.spotCheck);
        const urls = await Promise.all(sample.map((i) => dataUrl(data.images![i]!)));
        const [plain, withAlignment] = [
          await client.zeroShotTop1(model.id, urls, data.labels, prompts),
          await client.zeroShotTop1(model.id, urls, data.labels, prompts, name),
        ];
        sample.forEach((i, s) => {
          for (const [when, server, vectors] of [
            ['without', plain[s]!, images],
            ['with', withAlignment[s]!, aligned],
          ] as const) {
            compared++;
            const ours = data.labels[top1(vectors[i]!, labelVectors)]!;
            if (ours !== server) disagreements.push(`${strategy}: ${data.images![i]!.file} ${when} alignment, ours '${ours}', /v1/zero-shot '${server}'`);
          }
        });
      }

      if (strategy === 'template') plotInputs = { labelVectors, aligned, heldBefore: heldBefore.accuracy, heldAfter: heldAfter.accuracy };
    }

    // The plot (template strategy): one PCA on the images before and after alignment and the label texts, so both panels share axes.
    const { labelVectors, aligned, heldBefore, heldAfter } = plotInputs!;
    const pca = fitPca2([...images, ...aligned, ...labelVectors]);
    const held = new Set(split.held);
    const points = (vectors: readonly Float32Array[]) =>
      vectors.map((v, i) => {
        const [x, y] = pca.project(v);
        return { x, y, label: data.labelOf[i]!, held: held.has(i) };
      });
    const texts = labelVectors.map((v, label) => {
      const [x, y] = pca.project(v);
      return { x, y, label };
    });
    const rowOf = rows.find((r) => r.strategy === 'template')!;
    const png = await renderPlotPng({
      title: `zero-shot eval: ${model.id}${model.randomWeights ? ' (random weights)' : ''}, ${images.length} ${data.images ? 'images' : 'embeddings'}, ${data.labels.length} labels, template strategy`,
      labels: data.labels,
      xLabel: `PC1 (${(pca.explained[0] * 100).toFixed(1)}% of the variance)`,
      yLabel: `PC2 (${(pca.explained[1] * 100).toFixed(1)}%)`,
      panels: [
        { title: 'before alignment', subtitle: `held-out accuracy ${heldBefore.toFixed(3)}, gap ${rowOf.gapBefore!.toFixed(3)}`, images: points(images), texts },
        { title: 'after alignment (eval-template)', subtitle: `held-out accuracy ${heldAfter.toFixed(3)}, gap ${rowOf.gapAfter!.toFixed(3)}`, images: points(aligned), texts },
      ],
    });
    await writeFile(args.out, png);
    const meta = await sharp(png).metadata();

    return {
      model: model.id,
      randomWeights: model.randomWeights,
      labels: data.labels,
      examples: images.length,
      fitExamples: split.fit.length,
      heldOutExamples: split.held.length,
      rows,
      checks: { compared, disagreements },
      warnings: [...warnings],
      plot: { file: args.out, width: meta.width ?? 0, height: meta.height ?? 0 },
      cacheDir: temporaryCache ? undefined : cacheDir,
    };
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await cleanup();
  }
}
