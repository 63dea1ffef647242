/**
 * `npm run models -- <command>`: the catalog and the Hugging Face cache.
 *   list                          catalog models and whether they are cached
 *   pull <id> [--variant V|all]   download a model's files (resumable, verified)
 *   rm <id>                       remove a model's repo from the cache
 *   verify <id> [--write]         (online) read commit hashes and sha256s from the Hub
 *   check <id:tag> | --dir D --variant V   compare a variant with its fp32 graph
 */
import { DEFAULT_DTYPE, DTYPE_NAMES, dtypeOf } from '../models/dtypes.js';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { filesFor, findEntry, loadCatalog, type CatalogEntry, type Variant } from '../models/catalog/catalog.js';
import { createProgressReporter, findCachedSnapshot, HubError, listCachedRepos, pullFiles, removeCachedRepo } from '../models/hub/index.js';
import { readJsonFile } from '../models/hf-folder.js';
import { AGREEMENT_INPUTS, measureAgreement } from '../models/variant-agreement.js';
import { hubSettings } from './config.js';
import { verifyEntry } from './catalog-verify.js';

const USAGE = `Usage: npm run models -- <command>
  list                          catalog models and whether they are in the cache
  pull <id> [--variant V|all]   download a model (variants: fp32 (default), fp16, q8 (= quantized), int8, uint8, q4, q4f16, bnb4)
  rm <id>                       remove a model from the cache
  verify <id> [--write]         (online) fill in commit hashes and sha256s from the Hub
  check <id:tag>                compare a pulled variant with its fp32 graph (both must be pulled)
  check --dir D --variant V     the same for a model folder`;

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
      let dir = values.dir;
      if (!dir) {
        const entry = findEntry(catalog, requireId(catalogId));
        const files = [...filesFor(entry, DEFAULT_DTYPE), ...filesFor(entry, variant)].map((f) => f.path);
        dir = await findCachedSnapshot(hub.cacheDir, entry.repo, entry.revision, files);
        if (!dir) throw new Error(`${entry.id}: pull both variants first (npm run models -- pull ${entry.id} --variant fp32, then --variant ${variant})`);
      }
      const clip = (await readJsonFile<{ model_type?: string }>(dir, 'config.json')).model_type === 'clip';
      const sessions = clip ? ['text_model', 'vision_model'] : ['model'];
      print(`${dir}: ${variant} against fp32 on ${AGREEMENT_INPUTS} seeded synthetic inputs per session`);
      for (const s of await measureAgreement({ dir, variant, sessions, topK: !clip })) {
        const topK = s.top1 === undefined ? '' : `  top-1 ${s.top1.toFixed(3)}  top-5 ${s.top5!.toFixed(3)}`;
        print(`  ${s.session} (${s.output}): cosine min ${s.cosineMin.toFixed(6)}  mean ${s.cosineMean.toFixed(6)}${topK}`);
      }
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
