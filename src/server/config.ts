/**
 * The one place that reads process.env and argv. Precedence for every setting:
 * command-line flags > environment > config file > the model's defaults.
 */
import { accessFrom, imageUrlsFrom, type AccessSettings, type ImageUrlSettings } from './access-config.js';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { hubCacheDir } from '../models/hub/hub-cache.js';
import { defaultDtypeFor, dtypeOf, taggedId, type Dtype } from '../models/dtypes.js';
import { defaultPreprocessThreads } from '../models/image/preprocess-pool.js';
import type { Task } from '../pipelines/tasks.js';
import { modelEntrySchema, providerSchema, readConfigFile, type ConfigFile, type ModelEntry } from './config-file.js';
import { defaultPixelBudgetBytes } from './pixel-budget.js';
import { boolFrom, floatFrom, intFrom, MAX_TIMER_MS, providersFrom } from './config-values.js';

export interface Limits {
  /** Largest JSON body (base64 images are ~4/3 of their bytes). */
  jsonBodyBytes: number;
  /** Largest image file (multipart) or decoded base64 image. */
  imageBytes: number;
  /** Largest decoded image, width × height, refused before decoding. */
  maxImagePixels: number;
  grpcMaxMessageBytes: number;
  /** Requests in flight on both transports together; more get 429 before their body is read. */
  maxInFlightRequests: number;
  /** Requests in flight from one client address; 0 = no per-client cap. */
  maxInFlightPerClient: number;
  /** Decoded image bytes in flight, server-wide (estimated from each image's header). */
  pixelBudgetBytes: number;
  /** Prompts one zero-shot request may embed (labels × templates). */
  maxPrompts: number;
  /** Bytes each CLIP model's text-embedding cache may hold. */
  embeddingCacheBytes: number;
  /** Bytes each text-generating model's decoder caches may hold in its workers. */
  decodeCacheBytes: number;
  /** Longest wait for room in the pixel budget before `overloaded`. */
  pixelBudgetWaitMs: number;
  /** Decoding one image takes at most this long (rounded up to whole seconds: libvips' unit). */
  decodeTimeoutMs: number;
  /** The whole request head must arrive within this (slow-header clients). */
  headersTimeoutMs: number;
  /** The whole request, body included, must arrive within this (slow-upload clients). */
  bodyTimeoutMs: number;
}

export type ModelSource = { kind: 'dir'; dir: string } | { kind: 'catalog'; catalogId: string };

export interface ModelSettings {
  id: string;
  source: ModelSource;
  /** undefined: decided when the model is located (the catalog's, or from the folder's config.json). */
  task: Task | undefined;
  /** CLIP's trained logit scale, when set (else the catalog's, else 100). */
  logitScale: number | undefined;
  /** Visual chat: split images into tiles (undefined: off). */
  imageSplitting: boolean | undefined;
  /** The dtype tag; the served id carries it unless it is the providers' default (`id:q8`). */
  variant: Dtype;
  /** No tag was given: the variant is the providers' default, and fp32 stands in where a folder or repo has no fp16 files. */
  defaultVariant: boolean;
  /** undefined = planned from the thread budget. */
  instances: number | undefined;
  intraOpThreads: number | undefined;
  /** undefined = the catalog manifest's default, else MODEL_DEFAULTS. */
  maxBatchSize: number | undefined;
  maxQueueDelayMs: number | undefined;
  maxQueueSize: number | undefined;
  providers: z.infer<typeof providerSchema>[];
  requireProvider: boolean;
}

/** Where pulled models live and how to reach the Hub (HF_* variables, as Hugging Face tools read them). */
export interface HubSettings {
  cacheDir: string;
  endpoint: string;
  token: string | undefined;
}

export interface ServerConfig {
  host: string;
  port: number;
  grpcPort: number;
  logLevel: string;
  cacheDir: string;
  demo: boolean;
  /** Kept for models added after parsing (the demo's), so flags and env apply to them too. */
  modelOverrides: ModelOverrides;
  fileDefaults: { providers?: ModelSettings['providers'] | undefined; requireProvider?: boolean | undefined };
  help: boolean;
  /** Pull catalog models missing from the cache at start-up. */
  pull: boolean;
  /** Time the layouts of models with no kept tuning before loading them (src/server/layout-tunings.ts). */
  tune: boolean;
  /** How long each tuning candidate is timed (longer is steadier on a noisy machine). */
  tuneSecondsPerCandidate: number;
  hub: HubSettings;
  requestTimeoutMs: number;
  /** How long a shutdown waits for accepted requests before answering the rest 503. */
  drainTimeoutMs: number;
  /** Image preprocessing worker threads. */
  preprocessThreads: number;
  cores: number;
  limits: Limits;
  access: AccessSettings;
  imageUrls: ImageUrlSettings;
  models: ModelSettings[];
}

export interface BatchingDefaults {
  maxBatchSize: number;
  maxQueueDelayMs: number;
  maxQueueSize: number;
}

/** Batch 4: on CPU bigger batches do not add throughput (bench: 7.1, 7.0, 6.7 img/s at 2, 4, 8). */
export const MODEL_DEFAULTS: BatchingDefaults = { maxBatchSize: 4, maxQueueDelayMs: 0, maxQueueSize: 256 };

const DEFAULT_LIMITS: Omit<Limits, 'pixelBudgetBytes'> = {
  jsonBodyBytes: 32 * 1024 * 1024,
  imageBytes: 20 * 1024 * 1024,
  maxImagePixels: 50_000_000,
  grpcMaxMessageBytes: 32 * 1024 * 1024,
  maxInFlightRequests: 512,
  maxInFlightPerClient: 64,
  maxPrompts: 4096,
  embeddingCacheBytes: 64 * 1024 * 1024,
  decodeCacheBytes: 2 * 1024 ** 3,
  pixelBudgetWaitMs: 10_000,
  decodeTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 60_000,
};

/** `--model-dir path` or `--model-dir id=path`; the id defaults to the folder's name. */
function modelDirEntry(spec: string): Partial<ModelEntry> {
  const eq = spec.indexOf('=');
  const [id, dir] = eq > 0 ? [spec.slice(0, eq), spec.slice(eq + 1)] : [undefined, spec];
  return { ...(id ? { id } : {}), dir };
}

/** The id without a tag: the given one, else the catalog id or folder name. */
function baseId(entry: Partial<ModelEntry>): string {
  return entry.id ?? entry.catalog ?? path.basename(path.resolve(entry.dir ?? '.'));
}

/** How flag entries find the config file's entry for the same model: its id and the tag it names, if any. */
function entryKey(entry: Partial<ModelEntry>): string {
  return entry.variant === undefined ? baseId(entry) : `${baseId(entry)}:${dtypeOf(entry.variant) ?? entry.variant}`;
}

/** Per-model settings from flags and environment: they win over every model entry. */
export interface ModelOverrides {
  instances: number | undefined;
  intraOpThreads: number | undefined;
  maxBatchSize: number | undefined;
  maxQueueDelayMs: number | undefined;
  maxQueueSize: number | undefined;
  providers: ModelSettings['providers'] | undefined;
  requireProvider: boolean | undefined;
}

/** One model's settings: overrides (flags, env) > its entry > the file's defaults > built-ins. */
export function modelSettings(
  raw: Partial<ModelEntry>,
  overrides: ModelOverrides,
  fileDefaults: { providers?: ModelSettings['providers'] | undefined; requireProvider?: boolean | undefined },
): ModelSettings {
  const parsed = modelEntrySchema.safeParse(raw);
  if (!parsed.success) throw new Error(`model ${entryKey(raw)}: ${z.prettifyError(parsed.error)}`);
  const entry = parsed.data;
  const pick = <T>(...candidates: (T | undefined)[]): T | undefined => candidates.find((c) => c !== undefined);
  const providers = pick(overrides.providers, entry.providers, fileDefaults.providers) ?? ['cpu'];
  const defaultDtype = defaultDtypeFor(providers);
  const variant = entry.variant ?? defaultDtype;
  return {
    id: taggedId(baseId(entry), variant, defaultDtype),
    source: entry.catalog ? { kind: 'catalog', catalogId: entry.catalog } : { kind: 'dir', dir: path.resolve(entry.dir!) },
    task: entry.task,
    logitScale: entry.logit_scale,
    imageSplitting: entry.image_splitting,
    variant,
    defaultVariant: entry.variant === undefined,
    instances: pick(overrides.instances, entry.instances),
    intraOpThreads: pick(overrides.intraOpThreads, entry.intra_op_threads),
    maxBatchSize: pick(overrides.maxBatchSize, entry.max_batch_size),
    maxQueueDelayMs: pick(overrides.maxQueueDelayMs, entry.max_queue_delay_ms),
    maxQueueSize: pick(overrides.maxQueueSize, entry.max_queue_size),
    providers,
    requireProvider: pick(overrides.requireProvider, entry.require_provider, fileDefaults.requireProvider) ?? false,
  };
}

/** `--model catalog-id` or `--model catalog-id:variant`. */
function catalogEntry(spec: string): Partial<ModelEntry> {
  const [catalog, variant] = spec.split(':');
  const entry = { catalog, ...(variant ? { variant } : {}) };
  const parsed = modelEntrySchema.safeParse(entry);
  if (!parsed.success) throw new Error(`--model ${spec}: ${z.prettifyError(parsed.error)}`);
  return entry as Partial<ModelEntry>;
}

/** Hub settings as Hugging Face tools read them: HF_HUB_CACHE / HF_HOME, HF_ENDPOINT, HF_TOKEN. */
export function hubSettings(env: NodeJS.ProcessEnv): HubSettings {
  return {
    cacheDir: hubCacheDir({
      hfHubCache: env.HF_HUB_CACHE,
      legacyHubCache: env.HUGGINGFACE_HUB_CACHE,
      hfHome: env.HF_HOME,
      xdgCacheHome: env.XDG_CACHE_HOME,
      homeDir: os.homedir(),
    }),
    endpoint: (env.HF_ENDPOINT || 'https://huggingface.co').replace(/\/+$/, ''),
    token: env.HF_TOKEN || env.HUGGING_FACE_HUB_TOKEN || undefined,
  };
}

export function defaultCacheDir(env: NodeJS.ProcessEnv): string {
  if (env.MMS_CACHE_DIR) return env.MMS_CACHE_DIR;
  const base = env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'multimodal-server');
}


/** Request and resource limits: environment > config file > defaults. */
function limitsFrom(env: NodeJS.ProcessEnv, file: NonNullable<ConfigFile['limits']>): Limits {
  const pick = <T>(...candidates: (T | undefined)[]): T | undefined => candidates.find((c) => c !== undefined);
  const d = DEFAULT_LIMITS;
  return {
    jsonBodyBytes: file.json_body_bytes ?? d.jsonBodyBytes,
    imageBytes: file.image_bytes ?? d.imageBytes,
    maxImagePixels: pick(intFrom(env.MMS_MAX_IMAGE_PIXELS, 'MMS_MAX_IMAGE_PIXELS'), file.max_image_pixels) ?? d.maxImagePixels,
    grpcMaxMessageBytes: file.grpc_max_message_bytes ?? d.grpcMaxMessageBytes,
    maxInFlightRequests: pick(intFrom(env.MMS_MAX_IN_FLIGHT, 'MMS_MAX_IN_FLIGHT', 1), file.max_in_flight_requests) ?? d.maxInFlightRequests,
    maxInFlightPerClient:
      pick(intFrom(env.MMS_MAX_IN_FLIGHT_PER_CLIENT, 'MMS_MAX_IN_FLIGHT_PER_CLIENT'), file.max_in_flight_per_client) ?? d.maxInFlightPerClient,
    pixelBudgetBytes: pick(intFrom(env.MMS_PIXEL_BUDGET_BYTES, 'MMS_PIXEL_BUDGET_BYTES', 1 << 20), file.pixel_budget_bytes) ?? defaultPixelBudgetBytes(),
    maxPrompts: pick(intFrom(env.MMS_MAX_PROMPTS, 'MMS_MAX_PROMPTS', 1), file.max_prompts) ?? d.maxPrompts,
    embeddingCacheBytes: pick(intFrom(env.MMS_EMBEDDING_CACHE_BYTES, 'MMS_EMBEDDING_CACHE_BYTES'), file.embedding_cache_bytes) ?? d.embeddingCacheBytes,
    decodeCacheBytes: pick(intFrom(env.MMS_DECODE_CACHE_BYTES, 'MMS_DECODE_CACHE_BYTES'), file.decode_cache_bytes) ?? d.decodeCacheBytes,
    pixelBudgetWaitMs: pick(intFrom(env.MMS_PIXEL_BUDGET_WAIT_MS, 'MMS_PIXEL_BUDGET_WAIT_MS', 0, MAX_TIMER_MS), file.pixel_budget_wait_ms) ?? d.pixelBudgetWaitMs,
    decodeTimeoutMs: pick(intFrom(env.MMS_DECODE_TIMEOUT_MS, 'MMS_DECODE_TIMEOUT_MS', 1000, MAX_TIMER_MS), file.decode_timeout_ms) ?? d.decodeTimeoutMs,
    headersTimeoutMs: pick(intFrom(env.MMS_HEADERS_TIMEOUT_MS, 'MMS_HEADERS_TIMEOUT_MS', 1000, MAX_TIMER_MS), file.headers_timeout_ms) ?? d.headersTimeoutMs,
    bodyTimeoutMs: pick(intFrom(env.MMS_BODY_TIMEOUT_MS, 'MMS_BODY_TIMEOUT_MS', 1000, MAX_TIMER_MS), file.body_timeout_ms) ?? d.bodyTimeoutMs,
  };
}

/** Parses argv + env + config file into one validated config. Throws with a readable message. */
export function loadConfig(argv: string[] = process.argv.slice(2), env: NodeJS.ProcessEnv = process.env): ServerConfig {
  const { values: flags } = parseArgs({
    args: argv,
    strict: true,
    options: {
      'model-dir': { type: 'string', multiple: true },
      model: { type: 'string', multiple: true },
      pull: { type: 'boolean' },
      tune: { type: 'boolean' },
      config: { type: 'string' },
      demo: { type: 'boolean' },
      port: { type: 'string' },
      'grpc-port': { type: 'string' },
      host: { type: 'string' },
      providers: { type: 'string' },
      'require-provider': { type: 'boolean' },
      instances: { type: 'string' },
      threads: { type: 'string' },
      'max-batch-size': { type: 'string' },
      'max-queue-delay-ms': { type: 'string' },
      'max-queue-size': { type: 'string' },
      'cache-dir': { type: 'string' },
      'log-level': { type: 'string' },
      'preprocess-threads': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const file = readConfigFile(flags.config ?? env.MMS_CONFIG);
  const pick = <T>(...candidates: (T | undefined)[]): T | undefined => candidates.find((c) => c !== undefined);

  const overrides: ModelOverrides = {
    instances: pick(intFrom(flags.instances, '--instances', 1), intFrom(env.MMS_INSTANCES, 'MMS_INSTANCES', 1)),
    intraOpThreads: pick(intFrom(flags.threads, '--threads', 1), intFrom(env.MMS_THREADS, 'MMS_THREADS', 1)),
    maxBatchSize: pick(intFrom(flags['max-batch-size'], '--max-batch-size', 1), intFrom(env.MMS_MAX_BATCH_SIZE, 'MMS_MAX_BATCH_SIZE', 1)),
    maxQueueDelayMs: pick(intFrom(flags['max-queue-delay-ms'], '--max-queue-delay-ms'), intFrom(env.MMS_MAX_QUEUE_DELAY_MS, 'MMS_MAX_QUEUE_DELAY_MS')),
    maxQueueSize: pick(intFrom(flags['max-queue-size'], '--max-queue-size', 1), intFrom(env.MMS_MAX_QUEUE_SIZE, 'MMS_MAX_QUEUE_SIZE', 1)),
    providers: pick(providersFrom(flags.providers, '--providers'), providersFrom(env.MMS_PROVIDERS, 'MMS_PROVIDERS')),
    requireProvider: pick(flags['require-provider'], boolFrom(env.MMS_REQUIRE_PROVIDER, 'MMS_REQUIRE_PROVIDER')),
  };
  const fileDefaults = { providers: file.providers, requireProvider: file.require_provider };

  // Models named by flags (or env) replace the file's list, but keep a file entry's settings
  // when they name the same id.
  const dirFlags = flags['model-dir'] ?? env.MMS_MODEL_DIRS?.split(',').filter(Boolean);
  const catalogFlags = flags.model ?? env.MMS_MODELS?.split(',').filter(Boolean);
  const fromFlags = dirFlags || catalogFlags ? [...(dirFlags ?? []).map(modelDirEntry), ...(catalogFlags ?? []).map(catalogEntry)] : undefined;
  const fileByKey = new Map(file.models.map((entry) => [entryKey(entry), entry]));
  const entries = fromFlags?.map((entry) => ({ ...fileByKey.get(entryKey(entry)), ...entry })) ?? file.models;
  const models = entries.map((entry) => modelSettings(entry, overrides, fileDefaults));
  const ids = new Set<string>();
  for (const model of models) {
    if (ids.has(model.id)) throw new Error(`two models share the id '${model.id}': name them with --model-dir id=PATH`);
    ids.add(model.id);
  }

  return {
    host: pick(flags.host, env.HOST, file.host) ?? '0.0.0.0',
    port: pick(intFrom(flags.port, '--port'), intFrom(env.PORT, 'PORT'), file.port) ?? 8080,
    grpcPort: pick(intFrom(flags['grpc-port'], '--grpc-port'), intFrom(env.GRPC_PORT, 'GRPC_PORT'), file.grpc_port) ?? 50051,
    logLevel: pick(flags['log-level'], env.LOG_LEVEL, file.log_level) ?? 'info',
    cacheDir: path.resolve(pick(flags['cache-dir'], env.MMS_CACHE_DIR, file.cache_dir) ?? defaultCacheDir(env)),
    demo: flags.demo ?? false,
    modelOverrides: overrides,
    fileDefaults,
    help: flags.help ?? false,
    pull: pick(flags.pull, boolFrom(env.MMS_PULL, 'MMS_PULL')) ?? false,
    tune: pick(flags.tune, boolFrom(env.MMS_TUNE, 'MMS_TUNE')) ?? false,
    tuneSecondsPerCandidate: floatFrom(env.MMS_TUNE_SECONDS, 'MMS_TUNE_SECONDS') ?? 2,
    hub: hubSettings(env),
    requestTimeoutMs: pick(intFrom(env.MMS_REQUEST_TIMEOUT_MS, 'MMS_REQUEST_TIMEOUT_MS', 0, MAX_TIMER_MS), file.request_timeout_ms) ?? 60_000,
    drainTimeoutMs: pick(intFrom(env.MMS_DRAIN_TIMEOUT_MS, 'MMS_DRAIN_TIMEOUT_MS', 0, MAX_TIMER_MS), file.drain_timeout_ms) ?? 25_000,
    preprocessThreads:
      pick(intFrom(flags['preprocess-threads'], '--preprocess-threads', 1), intFrom(env.MMS_PREPROCESS_THREADS, 'MMS_PREPROCESS_THREADS', 1), file.preprocess_threads) ??
      defaultPreprocessThreads(os.availableParallelism()),
    cores: os.availableParallelism(),
    limits: limitsFrom(env, file.limits ?? {}),
    access: accessFrom(env, file.auth ?? {}),
    imageUrls: imageUrlsFrom(env, file.image_urls ?? {}),
    models,
  };
}
