/**
 * `npm run models -- <command>`: the catalog and the Hugging Face cache.
 *   list                          catalog models and whether they are cached
 *   pull <id> [--variant V|all]   download a model's files (resumable, verified)
 *   rm <id>                       remove a model's repo from the cache
 *   verify <id> [--write]         (online) read commit hashes and sha256s from the Hub
 *   check <id:tag> | --dir D --variant V   compare a variant with its fp32 graph
 *   tune <id[:tag]> | --dir D [--variant V]  time layouts and keep the fastest for this machine
 */
import { DEFAULT_DTYPE, DTYPE_NAMES, dtypeOf } from '../models/dtypes.js';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { filesFor, findEntry, loadCatalog, type CatalogEntry, type Variant } from '../models/catalog/catalog.js';
import { createProgressReporter, findCachedSnapshot, HubError, listCachedRepos, pullFiles, removeCachedRepo } from '../models/hub/index.js';
import { onnxFile } from '../models/hf-folder.js';
import { imageSessionIn } from '../pipelines/registry.js';
import { floatFrom, intFrom, providersFrom } from './config-values.js';
import { measureAndKeep } from './layout-tunings.js';
import { folderTask } from './model-sources.js';
import { AGREEMENT_INPUTS, measureAgreement } from '../models/variant-agreement.js';
import { defaultCacheDir, hubSettings } from './config.js';
import { verifyEntry } from './catalog-verify.js';

const USAGE = `Usage: npm run models -- <command>
  list                          catalog models and whether they are in the cache
  pull <id> [--variant V|all]   download a model (variants: fp32 (default), fp16, q8 (= quantized), int8, uint8, q4, q4f16, bnb4)
  rm <id>                       remove a model from the cache
  verify <id> [--write]         (online) fill in commit hashes and sha256s from the Hub
  check <id:tag>                compare a pulled variant with its fp32 graph (both must be pulled)
  check --dir D --variant V     the same for a model folder
  tune <id[:tag]>               time layouts (workers x threads) and batch sizes on this machine,
                                keep the fastest for the server (--cores N, --providers cuda,cpu,
                                --seconds S per candidate, --cache-dir PATH)
  tune --dir D [--variant V]    the same for a model folder`;

function variantsOf(entry: CatalogEntry, requested: string | undefined): Variant[] {
  if (requested === 'all') return Object.keys(entry.variants) as Variant[];
  const dtype = dtypeOf(requested ?? DEFAULT_DTYPE);
  if (!dtype) throw new Error(`unknown variant '${requested}': use one of ${DTYPE_NAMES.join(', ')}, or all`);
  return [dtype];
}

export async function runModelsCli(argv: string[], env: NodeJS.ProcessEnv, out: { write(text: string): unknown } = process.stdout): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      variant: { type: 'string' },
      write: { type: 'boolean' },
      catalog: { type: 'string' },
      dir: { type: 'string' },
      cores: { type: 'string' },
      providers: { type: 'string' },
      seconds: { type: 'string' },
      'cache-dir': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, id] = positionals;
  if (values.help || !command) {
    out.write(`${USAGE}\n`);
    return command || values.help ? 0 : 2;
  }
  const hub = hubSettings(env);
  const catalog = await loadCatalog(values.catalog);
  const print = (line: string) => out.write(`${line}\n`);
  /** The cached snapshot folder holding these variants of a catalog model. */
  const pulledDir = async (catalogId: string | undefined, variants: Variant[]): Promise<string> => {
    const entry = findEntry(catalog, requireId(catalogId));
    const files = variants.flatMap((variant) => filesFor(entry, variant)).map((f) => f.path);
    const dir = await findCachedSnapshot(hub.cacheDir, entry.repo, entry.revision, files);
    if (!dir) throw new Error(`${entry.id}: pull it first (${variants.map((v) => `npm run models -- pull ${entry.id} --variant ${v}`).join(', then ')})`);
    return dir;
  };

  switch (command) {
    case 'list': {
      print(`Hugging Face cache: ${hub.cacheDir}`);
      for (const entry of catalog) {
        const states = await Promise.all(
          Object.keys(entry.variants).map(async (variant) => {
            const files = filesFor(entry, variant as Variant).map((f) => f.path);
            const dir = await findCachedSnapshot(hub.cacheDir, entry.repo, entry.revision, files);
            return `${variant}: ${dir ? 'cached' : 'not pulled'}`;
          }),
        );
        print(`${entry.id}  ${entry.task}  ${entry.repo}@${entry.revision}  (${states.join(', ')})`);
      }
      const known = new Set(catalog.map((e) => e.repo));
      for (const repo of await listCachedRepos(hub.cacheDir)) {
        if (!known.has(repo.repo)) print(`(not in the catalog) ${repo.repo}  ${repo.sizeBytes} bytes`);
      }
      return 0;
    }
    case 'pull': {
      const entry = findEntry(catalog, requireId(id));
      for (const variant of variantsOf(entry, values.variant)) {
        const files = filesFor(entry, variant);
        const result = await pullFiles({
          endpoint: hub.endpoint,
          token: hub.token,
          repo: entry.repo,
          revision: entry.revision,
          files: files.map((f) => ({ path: f.path, sha256: f.sha256 ?? undefined })),
          cacheDir: hub.cacheDir,
          progress: createProgressReporter(process.stderr),
        });
        for (const warning of result.warnings) print(`warning: ${warning}`);
        print(`${entry.id} (${variant}) is in ${result.snapshotDir}`);
      }
      print(`serve it with: npm start -- --model ${entry.id}${values.variant && values.variant !== 'all' ? `:${values.variant}` : ''}`);
      return 0;
    }
    case 'rm': {
      const entry = findEntry(catalog, requireId(id));
      const removed = await removeCachedRepo(hub.cacheDir, entry.repo);
      print(removed ? `removed ${entry.repo} from ${hub.cacheDir}` : `${entry.repo} was not in ${hub.cacheDir}`);
      return 0;
    }
    case 'verify': {
      const entry = findEntry(catalog, requireId(id));
      const report = await verifyEntry(entry, hub, { write: values.write ?? false, catalogPath: values.catalog });
      for (const line of report) print(line);
      return 0;
    }
    case 'check': {
      const [catalogId, tag] = (id ?? '').split(':');
      const variant = dtypeOf(values.variant ?? tag ?? '');
      if (!variant || variant === DEFAULT_DTYPE) throw new Error(`name the variant to compare with fp32: check <id>:q8, or --dir D --variant q8`);
      const dir = values.dir ?? (await pulledDir(catalogId, [DEFAULT_DTYPE, variant]));
      const clip = (await folderTask(dir)) === 'zero-shot-image-classification';
      const sessions = clip ? ['text_model', 'vision_model'] : ['model'];
      print(`${dir}: ${variant} against fp32 on ${AGREEMENT_INPUTS} seeded synthetic inputs per session`);
      for (const s of await measureAgreement({ dir, variant, sessions, topK: !clip })) {
        const topK = s.top1 === undefined ? '' : `  top-1 ${s.top1.toFixed(3)}  top-5 ${s.top5!.toFixed(3)}`;
        print(`  ${s.session} (${s.output}): cosine min ${s.cosineMin.toFixed(6)}  mean ${s.cosineMean.toFixed(6)}${topK}`);
      }
      return 0;
    }
    case 'tune': {
      const [catalogId, tag] = (id ?? '').split(':');
      const variant = dtypeOf(values.variant ?? tag ?? DEFAULT_DTYPE);
      if (!variant) throw new Error(`unknown variant '${values.variant ?? tag}': use one of ${DTYPE_NAMES.join(', ')}`);
      const dir = values.dir ?? (await pulledDir(catalogId, [variant]));
      const request = {
        file: onnxFile(dir, imageSessionIn(await folderTask(dir), dir), variant),
        cores: intFrom(values.cores, '--cores', 1) ?? os.availableParallelism(),
        providers: providersFrom(values.providers, '--providers') ?? ['cpu' as const],
      };
      print(`${request.file}: timing ${request.cores} core(s) as workers x threads, batch sizes 1-8`);
      const kept = await measureAndKeep(values['cache-dir'] ?? defaultCacheDir(env), request, floatFrom(values.seconds, '--seconds'));
      for (const row of kept.result.rows) {
        const mark = row === kept.result.best ? '  <- kept' : '';
        print(`  ${row.instances} x ${row.intraOpThreads}  batch ${row.maxBatchSize}: ${row.itemsPerSecond.toFixed(2)} items/s  (run p50 ${row.runP50Ms.toFixed(1)} ms)${mark}`);
      }
      print(`kept in ${kept.file}; the server applies it when it serves this graph with the same cores and providers`);
      return 0;
    }
    default:
      out.write(`unknown command '${command}'\n${USAGE}\n`);
      return 2;
  }
}

function requireId(id: string | undefined): string {
  if (!id) throw new Error('name a catalog model id (see: npm run models -- list)');
  return id;
}

// Run as a script (not when imported by tests).
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  runModelsCli(process.argv.slice(2), process.env).then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error(error instanceof HubError || error instanceof Error ? `error: ${error.message}` : error);
      process.exit(1);
    },
  );
}
