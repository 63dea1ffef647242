/**
 * Turns the configured models into loadable specs: model folders as they are, catalog ids from
 * the Hugging Face cache (pulled first only with --pull, never gigabytes by surprise). A catalog
 * model that is not in the cache is reported as missing, with the one command that fetches it.
 */
import { CHAT_MODEL_TYPES } from '../models/chat/load-chat-model.js';
import { DEFAULT_DTYPE } from '../models/dtypes.js';
import { hasOnnxFile, readJsonFile } from '../models/hf-folder.js';
import type { Task } from '../pipelines/tasks.js';
import type { Logger } from 'pino';
import { filesFor, findEntry, loadCatalog, type CatalogEntry } from '../models/catalog/catalog.js';
import { createProgressReporter, findCachedSnapshot, HubError, pullFiles } from '../models/hub/index.js';
import { imageSessionIn, type ModelSpec } from '../pipelines/registry.js';
import { MODEL_DEFAULTS, type BatchingDefaults, type ModelSettings, type ServerConfig } from './config.js';
import { planLayouts, spinningAllowed } from './thread-budget.js';

export interface MissingModel {
  id: string;
  task: ModelSpec['task'];
  message: string;
}

export interface ResolvedModels {
  specs: ModelSpec[];
  missing: MissingModel[];
}

export function pullCommand(entry: CatalogEntry, variant: string): string {
  return `npm run models -- pull ${entry.id}${variant === 'fp32' ? '' : ` --variant ${variant}`}`;
}

/** The folder of a catalog model in the cache, pulling it when allowed; undefined when missing. */
async function catalogDir(config: ServerConfig, entry: CatalogEntry, variant: ModelSettings['variant'], logger: Logger): Promise<string | undefined> {
  const files = filesFor(entry, variant);
  const cached = await findCachedSnapshot(config.hub.cacheDir, entry.repo, entry.revision, files.map((f) => f.path));
  if (cached || !config.pull) return cached;
  logger.info({ model: entry.id, repo: entry.repo, revision: entry.revision, variant }, 'pulling model (--pull)');
  const pulled = await pullFiles({
    endpoint: config.hub.endpoint,
    token: config.hub.token,
    repo: entry.repo,
    revision: entry.revision,
    files: files.map((f) => ({ path: f.path, sha256: f.sha256 ?? undefined })),
    cacheDir: config.hub.cacheDir,
    progress: createProgressReporter(process.stderr),
  });
  for (const warning of pulled.warnings) logger.warn({ model: entry.id }, warning);
  return pulled.snapshotDir;
}

/**
 * The task a model folder serves when its settings name none: what its config.json's
 * `model_type` implies (CLIP → zero-shot classification, Idefics3 → visual chat), else image classification.
 * A folder without a readable config.json fails later, in its loader, with the loader's message.
 */
export async function folderTask(dir: string): Promise<Task> {
  const config = await readJsonFile<{ model_type?: unknown }>(dir, 'config.json').catch(() => undefined);
  if (config?.model_type === 'clip') return 'zero-shot-image-classification';
  if (config?.model_type === 'vision-encoder-decoder' || config?.model_type === 'blip') return 'image-to-text';
  if (typeof config?.model_type === 'string' && CHAT_MODEL_TYPES.includes(config.model_type)) return 'image-text-to-text';
  return 'image-classification';
}

export async function resolveModels(config: ServerConfig, logger: Logger, catalog?: CatalogEntry[]): Promise<ResolvedModels> {
  const needsCatalog = config.models.some((m) => m.source.kind === 'catalog');
  const entries = needsCatalog ? (catalog ?? (await loadCatalog())) : [];
  const located: { settings: ModelSettings; dir: string; task: Task; logitScale?: number | undefined; defaults: Partial<BatchingDefaults> }[] = [];
  const missing: MissingModel[] = [];
  for (const configured of config.models) {
    if (configured.source.kind === 'dir') {
      const dir = configured.source.dir;
      const task = configured.task ?? (await folderTask(dir));
      const settings = orFp32(configured, hasOnnxFile(dir, imageSessionIn(task, dir), configured.variant), logger);
      located.push({ settings, dir, task, defaults: {} });
      continue;
    }
    const entry = findEntry(entries, configured.source.catalogId);
    const settings = orFp32(configured, entry.variants[configured.variant] !== undefined, logger);
    let dir: string | undefined;
    try {
      dir = await catalogDir(config, entry, settings.variant, logger);
    } catch (error) {
      // A failed pull (offline, gated, disk full) leaves this model missing; the others still serve.
      if (!(error instanceof HubError)) throw error;
      const message = `model '${settings.id}' could not be pulled: ${error.message}`;
      logger.error({ model: settings.id, kind: error.kind }, message);
      missing.push({ id: settings.id, task: settings.task ?? entry.task, message });
      continue;
    }
    const defaults = {
      maxBatchSize: entry.defaults.max_batch_size,
      maxQueueDelayMs: entry.defaults.max_queue_delay_ms,
      maxQueueSize: entry.defaults.max_queue_size,
    };
    if (dir) {
      located.push({ settings, dir, task: settings.task ?? entry.task, logitScale: entry.logit_scale, defaults });
    } else {
      const message =
        `model '${settings.id}' (${entry.repo}@${entry.revision}, ${settings.variant}) is not in the Hugging Face cache at ` +
        `${config.hub.cacheDir}: fetch it with \`${pullCommand(entry, settings.variant)}\`, or start with --pull`;
      logger.error({ model: settings.id }, message);
      missing.push({ id: settings.id, task: settings.task ?? entry.task, message });
    }
  }

  const { layouts, overCommitted } = planLayouts(located.map((l) => l.settings), config.cores);
  if (overCommitted) {
    logger.warn({ cores: config.cores, layouts: Object.fromEntries(layouts) }, 'configured intra-op threads exceed the cores; sessions will contend');
  }
  const allowSpinning = spinningAllowed(layouts.values());
  const specs = located.map(({ settings, dir, task, logitScale, defaults }) => {
    const layout = layouts.get(settings.id)!;
    const fixed = definedOnly({ instances: settings.instances, intraOpThreads: settings.intraOpThreads, maxBatchSize: settings.maxBatchSize });
    const allFixed = Object.keys(fixed).length === 3;
    return {
      id: settings.id,
      dir,
      task,
      logitScale: settings.logitScale ?? logitScale,
      ...(settings.imageSplitting !== undefined && { imageSplitting: settings.imageSplitting }),
      variant: settings.variant,
      providers: settings.providers,
      requireProvider: settings.requireProvider,
      allowSpinning,
      ...layout,
      maxBatchSize: settings.maxBatchSize ?? defaults.maxBatchSize ?? MODEL_DEFAULTS.maxBatchSize,
      maxQueueDelayMs: settings.maxQueueDelayMs ?? defaults.maxQueueDelayMs ?? MODEL_DEFAULTS.maxQueueDelayMs,
      maxQueueSize: settings.maxQueueSize ?? defaults.maxQueueSize ?? MODEL_DEFAULTS.maxQueueSize,
      layoutSource: allFixed ? ('configured' as const) : ('planned' as const),
      ...(!allFixed && { tunable: { cores: layout.instances * layout.intraOpThreads, fixed } }),
    };
  });
  return { specs, missing };
}

/**
 * A model given without a tag runs in its providers' default dtype (fp16 on a GPU); where the
 * folder or repo has no files for it, the fp32 ones stand in, under the same bare id.
 */
function orFp32(settings: ModelSettings, available: boolean, logger: Logger): ModelSettings {
  if (available || !settings.defaultVariant || settings.variant === DEFAULT_DTYPE) return settings;
  logger.warn({ model: settings.id, variant: settings.variant }, `no ${settings.variant} files for '${settings.id}': serving its fp32 files`);
  return { ...settings, variant: DEFAULT_DTYPE };
}

/** The entries whose value is set (what the operator configured). */
function definedOnly<T extends object>(values: T): Partial<T> {
  return Object.fromEntries(Object.entries(values).filter(([, v]) => v !== undefined)) as Partial<T>;
}
