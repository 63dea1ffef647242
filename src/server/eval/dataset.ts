/**
 * The evaluation data: a folder with one subfolder per label (images inside), or a JSON file of
 * precomputed image embeddings; and the optional descriptions of the descriptive strategy.
 * Problems with them are `UsageError`s (exit 2) naming the file.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from './args.js';

/** Extensions read as images (the server checks the bytes themselves by magic number). */
const IMAGE_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
  '.avif': 'image/avif',
  '.heic': 'image/heic',
  '.heif': 'image/heif',
};

export interface Dataset {
  /** Sorted, distinct. */
  labels: string[];
  /** Index into `labels`, one per example. */
  labelOf: number[];
  /** Image files (with `--data`), one per example. */
  images?: { file: string; type: string }[];
  /** L2-normalised embeddings (with `--embeddings`), one per example. */
  embeddings?: Float32Array[];
}

/** `DIR/<label>/<image>`: folders in name order, images in name order; other files are ignored. */
export async function loadImageFolder(dir: string): Promise<Dataset> {
  const entries = await readdir(dir, { withFileTypes: true });
  const labels = entries
    .filter((e) => e.isDirectory() && !e.name.startsWith('.'))
    .map((e) => e.name)
    .sort();
  if (labels.length < 2) throw new UsageError(`--data ${dir}: needs at least two label subfolders, found ${labels.length}`);
  const images: { file: string; type: string }[] = [];
  const labelOf: number[] = [];
  for (const [index, label] of labels.entries()) {
    const files = (await readdir(path.join(dir, label), { withFileTypes: true }))
      .filter((e) => e.isFile() && !e.name.startsWith('.') && IMAGE_TYPES[path.extname(e.name).toLowerCase()] !== undefined)
      .map((e) => e.name)
      .sort();
    if (files.length === 0) throw new UsageError(`--data ${dir}: no images in ${label}/ (${Object.keys(IMAGE_TYPES).join(' ')})`);
    for (const file of files) {
      images.push({ file: path.join(dir, label, file), type: IMAGE_TYPES[path.extname(file).toLowerCase()]! });
      labelOf.push(index);
    }
  }
  return { labels, labelOf, images };
}

async function readJson(file: string, flag: string): Promise<unknown> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as unknown;
  } catch (error) {
    throw new UsageError(`${flag} ${file}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function normalised(values: readonly number[]): Float32Array {
  let sum = 0;
  for (const v of values) sum += v * v;
  const norm = Math.sqrt(sum);
  return Float32Array.from(values, (v) => v / norm);
}

/** `[{ "embedding": [...], "label": "..." }]`, every embedding of one dimension and non-zero. */
export async function loadEmbeddingsFile(file: string): Promise<Dataset> {
  const raw = await readJson(file, '--embeddings');
  const where = (i: number) => `--embeddings ${file}: item ${i}`;
  if (!Array.isArray(raw) || raw.length === 0) throw new UsageError(`--embeddings ${file}: expected a non-empty JSON array of { "embedding": [...], "label": "..." }`);
  let dim: number | undefined;
  const items = raw.map((item: unknown, i) => {
    if (typeof item !== 'object' || item === null) throw new UsageError(`${where(i)} is not an object`);
    const { embedding, label } = item as { embedding?: unknown; label?: unknown };
    if (typeof label !== 'string' || label.trim() === '') throw new UsageError(`${where(i)}: "label" must be a non-empty string`);
    if (!Array.isArray(embedding) || embedding.length === 0 || !embedding.every((v) => typeof v === 'number' && Number.isFinite(v))) {
      throw new UsageError(`${where(i)}: "embedding" must be a non-empty array of finite numbers`);
    }
    dim ??= embedding.length;
    if (embedding.length !== dim) throw new UsageError(`${where(i)}: ${embedding.length} dimensions, item 0 has ${dim}`);
    if (embedding.every((v) => v === 0)) throw new UsageError(`${where(i)}: the embedding is all zeros`);
    return { label: label.trim(), embedding: normalised(embedding as number[]) };
  });
  const labels = [...new Set(items.map((i) => i.label))].sort();
  if (labels.length < 2) throw new UsageError(`--embeddings ${file}: needs at least two labels, found ${labels.length}`);
  return { labels, labelOf: items.map((i) => labels.indexOf(i.label)), embeddings: items.map((i) => i.embedding) };
}

/** `{ "label": ["text", ...] }` with texts for every label of the data. */
export async function loadDescriptions(file: string, labels: readonly string[]): Promise<Record<string, string[]>> {
  const raw = await readJson(file, '--descriptions');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`--descriptions ${file}: expected an object { "label": ["text", ...] }`);
  const descriptions: Record<string, string[]> = {};
  for (const label of labels) {
    const texts = Object.hasOwn(raw, label) ? (raw as Record<string, unknown>)[label] : undefined;
    if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string' && t.trim() !== '')) {
      throw new UsageError(`--descriptions ${file}: label '${label}' needs a non-empty array of texts`);
    }
    descriptions[label] = texts as string[];
  }
  return descriptions;
}
