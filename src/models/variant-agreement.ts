/**
 * How closely a quantised variant (q8, fp16, …) follows the fp32 model it came from: both
 * graphs of each session run on the same seeded synthetic inputs in a short-lived worker pool
 * (one thread, so serving keeps the rest of the cores), and each output row is compared by
 * cosine; for a classifier's logits also the top-1 and top-5 agreement.
 *
 *   const agreement = await measureAgreement({ dir, variant: 'q8', sessions: ['model'], topK: true });
 */
import { cosine } from '../pipelines/scores.js';
import type { Dtype } from './dtypes.js';
import { onnxFile } from './hf-folder.js';
import { syntheticFeeds } from './session/synthetic-inputs.js';
import { WorkerPool } from './session/worker-pool.js';

/** Synthetic inputs per session: a batch of this many, seeded. */
export const AGREEMENT_INPUTS = 8;

export interface SessionAgreement {
  session: string;
  /** The output compared (the session's first). */
  output: string;
  cosineMin: number;
  cosineMean: number;
  /** Classifiers: the share of inputs whose argmax agrees, and the mean overlap of the top 5. */
  top1?: number;
  top5?: number;
}

export interface AgreementRequest {
  dir: string;
  variant: Dtype;
  /** The sessions to compare, named as their files (`model` for a ViT; CLIP's `text_model`, `vision_model`). */
  sessions: readonly string[];
  /** Compare top-1/top-5 (the output is logits). */
  topK: boolean;
  /** Stops between runs (the server is closing). */
  signal?: AbortSignal;
}

function topIndices(row: Float32Array, k: number): number[] {
  return Array.from(row.keys())
    .sort((a, b) => row[b]! - row[a]!)
    .slice(0, k);
}

/** Compares every session of the variant with its fp32 graph. Throws when an fp32 file is missing. */
export async function measureAgreement(request: AgreementRequest): Promise<SessionAgreement[]> {
  const names = request.sessions;
  const files: Record<string, string> = {};
  for (const name of names) {
    files[`${name}:fp32`] = onnxFile(request.dir, name, 'fp32');
    files[`${name}:variant`] = onnxFile(request.dir, name, request.variant);
  }
  const pool = await WorkerPool.create({ sessions: files, instances: 1, intraOpThreads: 1, providers: ['cpu'], requireProvider: false, allowSpinning: false });
  try {
    const results: SessionAgreement[] = [];
    for (const name of names) {
      const info = pool.session(`${name}:variant`);
      const output = info.outputs[0]!.name;
      // Built again for each run: a run moves its inputs' buffers to the worker.
      const feeds = () => syntheticFeeds(info, AGREEMENT_INPUTS);
      request.signal?.throwIfAborted();
      const reference = (await pool.run(`${name}:fp32`, feeds(), [output]))[output]!.data as Float32Array;
      request.signal?.throwIfAborted();
      const variant = (await pool.run(`${name}:variant`, feeds(), [output]))[output]!.data as Float32Array;
      const rowSize = reference.length / AGREEMENT_INPUTS;
      const rows = Array.from({ length: AGREEMENT_INPUTS }, (_, i) => [reference.subarray(i * rowSize, (i + 1) * rowSize), variant.subarray(i * rowSize, (i + 1) * rowSize)] as const);
      const cosines = rows.map(([a, b]) => cosine(a, b));
      const agreement: SessionAgreement = {
        session: name,
        output,
        cosineMin: Math.min(...cosines),
        cosineMean: cosines.reduce((sum, c) => sum + c, 0) / cosines.length,
      };
      if (request.topK) {
        agreement.top1 = rows.filter(([a, b]) => topIndices(a, 1)[0] === topIndices(b, 1)[0]).length / rows.length;
        agreement.top5 = rows.reduce((sum, [a, b]) => sum + topIndices(a, 5).filter((i) => topIndices(b, 5).includes(i)).length / 5, 0) / rows.length;
      }
      results.push(agreement);
    }
    return results;
  } finally {
    await pool.close();
  }
}
