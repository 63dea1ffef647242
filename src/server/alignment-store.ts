/**
 * Fitted alignments on disk (`<cache dir>/alignments/<name>.json`): they survive restarts, are
 * listed, read and removed by name. A file that cannot be read is reported in the list with its
 * error, never fatal. Writes go through a temporary file and a rename.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiError } from '../errors.js';
import type { GapStats } from '../pipelines/alignment/gap.js';
import type { ProcrustesMap } from '../pipelines/alignment/procrustes.js';

export const ALIGNMENT_NAME = /^[A-Za-z0-9][\w.-]{0,63}$/;

export interface AlignmentRecord {
  name: string;
  /** The served model id (tag included) it was fitted for. */
  model: string;
  dim: number;
  strategy: string;
  labels: string[];
  examples: number;
  created: string;
  stats: { fit: { before: GapStats; after: GapStats }; heldOut?: { examples: number; before: GapStats; after: GapStats } };
  warnings: string[];
  map: ProcrustesMap;
}

/** What lists show: everything but the matrix, or why the file could not be read. */
export type AlignmentSummary = Omit<AlignmentRecord, 'map'> | { name: string; error: string };

const floatsToBase64 = (values: Float32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('base64');
function floatsFromBase64(text: string, length: number, what: string): Float32Array {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length !== length * 4) throw new Error(`${what} has ${bytes.length / 4} values, expected ${length}`);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
}

function serialise(record: AlignmentRecord): string {
  const { map, ...rest } = record;
  return JSON.stringify({ ...rest, map: { dim: map.dim, mu_x: floatsToBase64(map.muX), mu_y: floatsToBase64(map.muY), w: floatsToBase64(map.w) } });
}

function parse(text: string): AlignmentRecord {
  const raw = JSON.parse(text) as Omit<AlignmentRecord, 'map'> & { map: { dim: number; mu_x: string; mu_y: string; w: string } };
  const dim = raw.map?.dim;
  if (!Number.isInteger(dim) || dim < 1 || typeof raw.name !== 'string' || typeof raw.model !== 'string') throw new Error('not an alignment file');
  const map = {
    dim,
    muX: floatsFromBase64(raw.map.mu_x, dim, 'mu_x'),
    muY: floatsFromBase64(raw.map.mu_y, dim, 'mu_y'),
    w: floatsFromBase64(raw.map.w, dim * dim, 'w'),
  };
  return { ...raw, map };
}

export class AlignmentStore {
  private readonly records = new Map<string, AlignmentRecord>();
  private readonly broken = new Map<string, string>();

  constructor(private readonly dir: string) {}

  /** Reads every stored alignment; unreadable files are kept as errors in `list()`. */
  async load(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    for (const file of names.filter((n) => n.endsWith('.json'))) {
      const name = file.slice(0, -'.json'.length);
      try {
        const record = parse(await readFile(path.join(this.dir, file), 'utf8'));
        this.records.set(record.name, record);
      } catch (error) {
        this.broken.set(name, `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  list(): AlignmentSummary[] {
    const good = [...this.records.values()].map(({ map: _map, ...summary }) => summary);
    const bad = [...this.broken].map(([name, error]) => ({ name, error }));
    return [...good, ...bad].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The alignment, or `alignment_not_found` naming the stored ones. */
  get(name: string): AlignmentRecord {
    const record = this.records.get(name);
    if (record) return record;
    const broken = this.broken.get(name);
    if (broken) throw new ApiError('alignment_not_found', `alignment '${name}' is stored but unreadable: ${broken}`);
    const known = [...this.records.keys()].join(', ') || 'none';
    throw new ApiError('alignment_not_found', `no alignment '${name}' (stored: ${known})`);
  }

  async save(record: AlignmentRecord): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, `${record.name}.json`);
    const temporary = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(temporary, serialise(record));
      await rename(temporary, file);
    } catch (error) {
      // No half-written file is left behind; a full disk is the operator's to fix, said so.
      await rm(temporary, { force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new ApiError('insufficient_storage', `alignment '${record.name}' was fitted but not saved: no space left in ${this.dir}`, { cause: error });
      throw error;
    }
    this.records.set(record.name, record);
    this.broken.delete(record.name);
  }

  async delete(name: string): Promise<void> {
    if (!this.records.has(name) && !this.broken.has(name)) this.get(name);
    await rm(path.join(this.dir, `${name}.json`), { force: true });
    this.records.delete(name);
    this.broken.delete(name);
  }
}
