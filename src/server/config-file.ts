/** The JSON config file: its schema (snake_case, strict) and reading it. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { DTYPE_NAMES, dtypeOf } from '../models/dtypes.js';
import { EXECUTION_PROVIDERS } from '../models/session/execution-providers.js';
import { TASK_NAMES } from '../pipelines/tasks.js';

/** The longest delay a Node timer takes (longer ones fire at once): the cap of every *_ms setting. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

export const providerSchema = z.enum(EXECUTION_PROVIDERS);

/** A dtype tag by any of its names, normalised to the dtype (`quantized` → `q8`). */
export const dtypeSchema = z
  .string()
  .refine((tag) => dtypeOf(tag) !== undefined, { message: `a dtype tag is one of ${DTYPE_NAMES.join(', ')}` })
  .transform((tag) => dtypeOf(tag)!);

/** Per-model settings a config file (snake_case) may give; unset ones fall back to defaults. */
export const modelEntrySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][\w.-]*$/, 'model ids use letters, digits, ".", "_" and "-"').optional(),
  /** A model folder in the Hugging Face layout... */
  dir: z.string().optional(),
  /** ...or a catalog id (models/catalog.json), served from the Hugging Face cache. */
  catalog: z.string().optional(),
  /** Unset: the catalog's task, or for a folder the one its config.json implies (CLIP → zero-shot). */
  task: z.enum(TASK_NAMES).optional(),
  /** exp(logit_scale) of the trained model (CLIP; 100 for the OpenAI checkpoints). config.json only has the init value. */
  logit_scale: z.number().positive().max(1000).optional(),
  /** Visual chat (Idefics3): split each image into tiles of the view size plus a global view (off: one view per image). */
  image_splitting: z.boolean().optional(),
  /** A dtype tag (transformers.js names; `quantized` = `q8`). Unset: fp16 when the first provider is a GPU's, else fp32. */
  variant: dtypeSchema.optional(),
  instances: z.number().int().min(1).optional(),
  intra_op_threads: z.number().int().min(1).optional(),
  max_batch_size: z.number().int().min(1).max(256).optional(),
  max_queue_delay_ms: z.number().min(0).optional(),
  max_queue_size: z.number().int().min(1).optional(),
  providers: z.array(providerSchema).min(1).optional(),
  require_provider: z.boolean().optional(),
}).refine((m) => (m.dir === undefined) !== (m.catalog === undefined), { message: 'a model entry has either "dir" or "catalog"' });

export const configFileSchema = z.strictObject({
  host: z.string().optional(),
  port: z.number().int().min(0).max(65535).optional(),
  grpc_port: z.number().int().min(0).max(65535).optional(),
  log_level: z.string().optional(),
  cache_dir: z.string().optional(),
  providers: z.array(providerSchema).min(1).optional(),
  require_provider: z.boolean().optional(),
  request_timeout_ms: z.number().int().min(1).max(MAX_TIMER_MS).optional(),
  drain_timeout_ms: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
  preprocess_threads: z.number().int().min(1).optional(),
  limits: z
    .strictObject({
      json_body_bytes: z.number().int().min(1024).optional(),
      image_bytes: z.number().int().min(1024).optional(),
      max_image_pixels: z.number().int().min(1).optional(),
      grpc_max_message_bytes: z.number().int().min(1024).optional(),
      max_in_flight_requests: z.number().int().min(1).optional(),
      max_in_flight_per_client: z.number().int().min(0).optional(),
      pixel_budget_bytes: z.number().int().min(1024 * 1024).optional(),
      max_prompts: z.number().int().min(1).optional(),
      embedding_cache_bytes: z.number().int().min(0).optional(),
      decode_cache_bytes: z.number().int().min(1).optional(),
      pixel_budget_wait_ms: z.number().int().min(0).max(MAX_TIMER_MS).optional(),
      decode_timeout_ms: z.number().int().min(1000).max(MAX_TIMER_MS).optional(),
      headers_timeout_ms: z.number().int().min(1000).max(MAX_TIMER_MS).optional(),
      body_timeout_ms: z.number().int().min(1000).max(MAX_TIMER_MS).optional(),
    })
    .optional(),
  /** API keys and request rates (src/server/access-config.ts). */
  auth: z
    .strictObject({
      keys_file: z.string().optional(),
      open_paths: z.array(z.string().startsWith('/')).optional(),
      requests_per_second: z.number().positive().optional(),
      burst: z.number().int().min(1).optional(),
      max_concurrent: z.number().int().min(1).optional(),
      trusted_proxies: z.array(z.string()).optional(),
    })
    .optional(),
  /** Fetching images from http(s) URLs: off unless enabled (src/server/access-config.ts). */
  image_urls: z
    .strictObject({
      enabled: z.boolean().optional(),
      allow_hosts: z.array(z.string()).optional(),
      deny_hosts: z.array(z.string()).optional(),
      allow_addresses: z.array(z.string()).optional(),
      max_redirects: z.number().int().min(0).max(10).optional(),
      timeout_ms: z.number().int().min(100).max(MAX_TIMER_MS).optional(),
    })
    .optional(),
  models: z.array(modelEntrySchema).default([]),
});

export type ConfigFile = z.infer<typeof configFileSchema>;
export type ModelEntry = z.infer<typeof modelEntrySchema>;



export function readConfigFile(file: string | undefined): ConfigFile {
  if (!file) return configFileSchema.parse({});
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new Error(`cannot read config file ${file}: ${(error as Error).message}`);
  }
  const parsed = configFileSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`config file ${file}: ${z.prettifyError(parsed.error)}`);
  // Model folders in a config file are relative to the file.
  for (const model of parsed.data.models) if (model.dir) model.dir = path.resolve(path.dirname(file), model.dir);
  return parsed.data;
}

