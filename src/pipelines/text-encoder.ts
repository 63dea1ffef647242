/**
 * Turns a worker pool's text session into the `runBatch` of a batcher: token-id items of any
 * length, padded per batch to the longest (with the tokenizer's pad id), one embedding row out
 * per item. `attention_mask` is fed only when the graph takes one.
 */
import { ApiError } from '../errors.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import type { EncodedRow } from './batched-encoder.js';
import type { RunBatch } from './batcher.js';

export interface TextEncoderIo {
  session: string;
  outputName: string;
  padId: number;
  withAttentionMask: boolean;
}

export function textEncoderRunBatch(pool: Pick<WorkerPool, 'run'>, io: TextEncoderIo): RunBatch<readonly number[], EncodedRow> {
  return async (items) => {
    const length = Math.max(1, ...items.map((ids) => ids.length));
    const ids = new BigInt64Array(items.length * length).fill(BigInt(io.padId));
    const mask = new BigInt64Array(items.length * length);
    items.forEach((item, row) => {
      item.forEach((id, i) => {
        ids[row * length + i] = BigInt(id);
        mask[row * length + i] = 1n;
      });
    });
    const dims = [items.length, length];
    const feeds = {
      input_ids: { type: 'int64' as const, dims, data: ids },
      ...(io.withAttentionMask ? { attention_mask: { type: 'int64' as const, dims, data: mask } } : {}),
    };
    const started = performance.now();
    const outputs = await pool.run(io.session, feeds, [io.outputName]);
    const inferenceMs = performance.now() - started;
    const output = outputs[io.outputName];
    if (!output || !(output.data instanceof Float32Array) || output.dims.length !== 2 || output.dims[0] !== items.length) {
      throw new ApiError('internal', `the text model returned no float32 '${io.outputName}' [${items.length}, dim]`);
    }
    const width = output.dims[1]!;
    return items.map((_, i) => ({
      row: output.data.slice(i * width, (i + 1) * width) as Float32Array,
      dims: [width],
      batchSize: items.length,
      inferenceMs,
    }));
  };
}
