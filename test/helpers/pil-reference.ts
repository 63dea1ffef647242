/**
 * Runs test/helpers/pil-reference.py (Debian's /usr/bin/python3 with python3-pil and numpy) on a
 * batch of jobs and reads its raw results back. Missing Python or PIL is a failure that names the
 * fix (`npm run setup`), never a skip.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageProcessorSettings } from '../../src/models/image/index.js';

/** Debian's interpreter (the `python3` on PATH may be a pyenv build without Debian's packages). */
const PYTHON = process.env.PIL_REFERENCE_PYTHON ?? '/usr/bin/python3';
const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'pil-reference.py');
const PIL_CODE = { nearest: 0, lanczos: 1, bilinear: 2, bicubic: 3, box: 4, hamming: 5 } as const;

/** One image for the reference: decode only, or the full processor path. */
export interface PilJob {
  input: string;
  op: 'decode' | 'preprocess';
  /** 16-bit greyscale: PIL's own convert('RGB') (clips at 255), or keep the high byte. */
  grey16?: 'pil' | 'scale';
  resize?: { height: number; width: number } | { shortest_edge: number; longest_edge?: number } | null;
  resample?: number;
  crop?: { height: number; width: number } | null;
  rescale_factor?: number | null;
  mean?: readonly number[] | null;
  std?: readonly number[] | null;
}

export interface PilResult {
  width: number;
  height: number;
  /** PIL mode of the opened file ('RGB', 'L', 'CMYK', 'I', 'P', ...). */
  mode: string;
  /** HWC uint8 RGB: the decoded image, or after resize and crop for "preprocess". */
  rgb: Uint8Array;
  /** CHW float32 pixel values ("preprocess" only). */
  pixelValues?: Float32Array;
}

/** The PIL job mirroring `settings` (a Python processor configured the same way). */
export function pilJobFor(input: string, settings: ImageProcessorSettings): PilJob {
  const size = settings.size;
  return {
    input,
    op: 'preprocess',
    resize: !settings.doResize || !size ? null
      : size.kind === 'exact' ? { height: size.height, width: size.width }
      : { shortest_edge: size.shortestEdge, ...(size.longestEdge ? { longest_edge: size.longestEdge } : {}) },
    resample: PIL_CODE[settings.resample],
    crop: settings.doCenterCrop && settings.cropSize ? { ...settings.cropSize } : null,
    rescale_factor: settings.doRescale ? settings.rescaleFactor : null,
    mean: settings.doNormalize ? settings.imageMean : null,
    std: settings.doNormalize ? settings.imageStd : null,
  };
}

function run(input: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(PYTHON, [SCRIPT], { maxBuffer: 1 << 24, timeout: 60_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${PYTHON} ${SCRIPT} failed: ${error.message}\n${stderr}`));
      else resolve(stdout);
    });
    child.stdin?.end(input);
  });
}

let available: Promise<void> | undefined;

/** Checks (once) that Debian's Python has PIL and numpy; rejects with the fix when not. */
export function assertPilAvailable(): Promise<void> {
  const hint = 'the PIL reference needs Debian python3-pil and python3-numpy: run `npm run setup`';
  available ??= new Promise<void>((resolve, reject) => {
    if (!existsSync(PYTHON)) return reject(new Error(`${PYTHON} not found; ${hint}`));
    execFile(PYTHON, ['-c', 'import PIL, numpy'], (error, _out, stderr) =>
      error ? reject(new Error(`${PYTHON} cannot import PIL/numpy (${stderr.trim()}); ${hint}`)) : resolve());
  });
  return available;
}

/** Runs all jobs in one Python process; a job PIL cannot open rejects with PIL's message. */
export async function pilReference(jobs: readonly PilJob[]): Promise<PilResult[]> {
  await assertPilAvailable();
  const dir = await mkdtemp(path.join(tmpdir(), 'pil-ref-'));
  try {
    const withOutputs = jobs.map((job, i) => ({ ...job, output: path.join(dir, `out-${i}.bin`) }));
    const stdout = await run(JSON.stringify({ jobs: withOutputs }));
    const { results } = JSON.parse(stdout) as { results: Array<{ width: number; height: number; mode: string; error?: string }> };
    return await Promise.all(results.map(async (r, i) => {
      const job = withOutputs[i]!;
      if (r.error) throw new Error(`PIL reference failed for ${job.input}: ${r.error}`);
      if (job.op === 'decode') return { ...r, rgb: new Uint8Array(await readFile(job.output)) };
      const rgb = new Uint8Array(await readFile(`${job.output}.u8`));
      const f = await readFile(job.output);
      const pixelValues = new Float32Array(f.buffer.slice(f.byteOffset, f.byteOffset + f.byteLength));
      return { ...r, rgb, pixelValues };
    }));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Max and mean absolute difference of two equally long arrays. */
export function absDiff(a: ArrayLike<number>, b: ArrayLike<number>): { max: number; mean: number } {
  if (a.length !== b.length) throw new Error(`length mismatch: ${a.length} vs ${b.length}`);
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { max, mean: a.length ? sum / a.length : 0 };
}

/** Undoes normalisation and rescale per channel: CHW float → HWC values in uint8 units (not rounded). */
export function toUint8Units(pixelValues: Float32Array, settings: ImageProcessorSettings, height: number, width: number): Float64Array {
  const plane = height * width;
  const out = new Float64Array(plane * 3);
  for (let c = 0; c < 3; c++) {
    const mean = settings.doNormalize ? settings.imageMean[c]! : 0;
    const std = settings.doNormalize ? settings.imageStd[c]! : 1;
    const scale = settings.doRescale ? settings.rescaleFactor : 1;
    for (let i = 0; i < plane; i++) out[i * 3 + c] = (pixelValues[c * plane + i]! * std + mean) / scale;
  }
  return out;
}
