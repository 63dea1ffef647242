/**
 * The model catalog (models/catalog.json): served model ids mapped to their Hugging Face repo,
 * revision, files per variant, and batching defaults. Facts not checked online are null and
 * named in `unverified`, never invented.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { DTYPES, type Dtype } from '../dtypes.js';
import { TASK_NAMES } from '../../pipelines/tasks.js';

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a sha256 is 64 lower-case hex digits').nullable().default(null);
const fileSchema = z.strictObject({ path: z.string().min(1), sha256 });

const entrySchema = z.strictObject({
  id: z.string().regex(/^[A-Za-z0-9][\w.-]*$/),
  task: z.enum(TASK_NAMES),
  /** CLIP: exp(logit_scale) of the trained checkpoint (config.json only has the init value). */
  logit_scale: z.number().positive().optional(),
  family: z.enum(['vit', 'clip', 'vision-encoder-decoder', 'idefics3']),
  description: z.string().optional(),
  repo: z.string().regex(/^[\w.-]+\/[\w.-]+$/, 'a repo is "org/name"'),
  revision: z.string().min(1),
  unverified: z.array(z.string()).default([]),
  files: z.array(fileSchema),
  /** Graph files per dtype tag (transformers.js names). */
  variants: z.partialRecord(z.enum(DTYPES as [Dtype, ...Dtype[]]), z.array(fileSchema)),
  defaults: z
    .strictObject({
      max_batch_size: z.number().int().min(1).optional(),
      max_queue_delay_ms: z.number().min(0).optional(),
      max_queue_size: z.number().int().min(1).optional(),
    })
    .default({}),
});

const catalogSchema = z.object({ $comment: z.string().optional(), models: z.array(entrySchema) });

export type CatalogEntry = z.infer<typeof entrySchema>;
export type CatalogFile = z.infer<typeof fileSchema>;
export type Variant = keyof CatalogEntry['variants'];

/** models/catalog.json at the repository root, found from sources and the compiled build. */
export function defaultCatalogPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'models', 'catalog.json');
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('models/catalog.json not found above the source tree');
    dir = parent;
  }
}

export async function loadCatalog(file = defaultCatalogPath()): Promise<CatalogEntry[]> {
  const parsed = catalogSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
  if (!parsed.success) throw new Error(`${file}: ${z.prettifyError(parsed.error)}`);
  const ids = new Set<string>();
  for (const entry of parsed.data.models) {
    if (ids.has(entry.id)) throw new Error(`${file}: the id '${entry.id}' appears twice`);
    ids.add(entry.id);
  }
  return parsed.data.models;
}

export function findEntry(catalog: CatalogEntry[], id: string): CatalogEntry {
  const entry = catalog.find((e) => e.id === id);
  if (!entry) throw new Error(`'${id}' is not in the catalog (known: ${catalog.map((e) => e.id).join(', ')})`);
  return entry;
}

/** The files one variant needs: the shared configs plus that variant's graphs. */
export function filesFor(entry: CatalogEntry, variant: Variant): CatalogFile[] {
  const graphs = entry.variants[variant];
  if (!graphs) {
    throw new Error(`${entry.id} has no '${variant}' variant (it has: ${Object.keys(entry.variants).join(', ')})`);
  }
  return [...entry.files, ...graphs];
}
