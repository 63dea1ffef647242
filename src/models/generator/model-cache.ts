/**
 * A cache of generated models: one folder per (generator source, kind, params), written
 * atomically so parallel test processes can share it.
 *
 *   const dir = await ensureGeneratedModel({
 *     cacheDir: '/tmp/models', kind: 'vit', params: spec,
 *     write: async (dir) => { await writeFile(path.join(dir, 'config.json'), '{}'); },
 *   });
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface GeneratedModelOptions {
  /** Parent folder of all generated models (outside git). */
  cacheDir: string;
  /** A short name for the model family, used in the folder name: 'vit', 'clip', ... */
  kind: string;
  /** Anything JSON-serialisable that determines the files (spec, seed, variant). */
  params: unknown;
  /** Writes the model's files into `dir` (a fresh, empty temporary folder). */
  write: (dir: string) => Promise<void>;
}

const generatorDir = path.dirname(fileURLToPath(import.meta.url));
let sourceHash: Promise<string> | undefined;

/** sha256 over the generator's own source files (.ts under tsx, .js from dist/), so edits invalidate the cache. */
function generatorSourceHash(): Promise<string> {
  sourceHash ??= (async () => {
    const hash = createHash('sha256');
    const names = (await readdir(generatorDir)).filter((n) => /\.(ts|js|mjs)$/.test(n) && !n.endsWith('.d.ts')).sort();
    for (const name of names) {
      hash.update(`${name}\0`);
      hash.update(await readFile(path.join(generatorDir, name)));
    }
    return hash.digest('hex');
  })();
  return sourceHash;
}

/** JSON with object keys sorted, so key order in `params` does not change the cache key. */
function stableJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/** The cache key (hex sha256) a model with these params gets. */
export async function generatedModelKey(kind: string, params: unknown): Promise<string> {
  return createHash('sha256')
    .update(await generatorSourceHash())
    .update(`\0${kind}\0${stableJson(params)}`)
    .digest('hex');
}

/**
 * Returns `<cacheDir>/<kind>-<key16>`, generating it first when absent: `write` fills a temporary
 * folder beside it, which is then renamed into place; if another process finished first, its
 * folder is kept and ours discarded.
 */
export async function ensureGeneratedModel(options: GeneratedModelOptions): Promise<string> {
  const { cacheDir, kind, params, write } = options;
  if (!/^[\w.-]+$/.test(kind)) throw new Error(`invalid model kind ${JSON.stringify(kind)}`);
  const key = await generatedModelKey(kind, params);
  const finalDir = path.join(cacheDir, `${kind}-${key.slice(0, 16)}`);
  if (existsSync(finalDir)) return finalDir;

  await mkdir(cacheDir, { recursive: true });
  const tmpDir = path.join(cacheDir, `.tmp-${kind}-${key.slice(0, 16)}-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(tmpDir);
  try {
    await write(tmpDir);
    await rename(tmpDir, finalDir);
  } catch (err) {
    await rm(tmpDir, { recursive: true, force: true });
    const code = (err as NodeJS.ErrnoException).code;
    // rename onto a non-empty folder fails with ENOTEMPTY/EEXIST: another process won the race.
    if ((code === 'ENOTEMPTY' || code === 'EEXIST') && existsSync(finalDir)) return finalDir;
    throw err;
  }
  return finalDir;
}
