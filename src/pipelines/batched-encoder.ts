/**
 * Turns a worker pool into the `runBatch` of a batcher for encoders that take one fixed-shape
 * tensor per item and give one row per item (ViT logits today; CLIP towers next).
 */
import { ApiError } from '../errors.js';
import { BufferRecycler } from '../models/buffer-recycler.js';
import type { WorkerPool } from '../models/session/worker-pool.js';
import { elementCount, type NamedTensors } from '../models/session/tensor.js';
import type { RunBatch } from './batcher.js';

export interface EncoderIo {
  /** The pool's session to run (a component of the model). */
  session: string;
  inputName: string;
  /** Shape of one item without the batch axis, e.g. [3, 224, 224]. */
  itemDims: number[];
  outputName: string;
}

/** One item's row of the output, and how the batch it ran in went. */
export interface EncodedRow {
  row: Float32Array;
  /** Shape of `row` (the output's dims without the batch axis). */
  dims: number[];
  batchSize: number;
  inferenceMs: number;
}

/** Batch tensors kept for reuse: a few sizes in flight per instance is plenty. */
const SPARE_BATCHES = 8;

/**
 * Stacks fixed-shape items into one batch tensor for `io.inputName`, reusing the buffers of
 * earlier batches of the same size (given back through `onFeedsReturned` after a run).
 */
export function batchStacker(io: Pick<EncoderIo, 'inputName' | 'itemDims'>) {
  const itemSize = elementCount(io.itemDims);
  const spare = new BufferRecycler(SPARE_BATCHES);
  return {
    stack(items: readonly Float32Array[]): NamedTensors {
      const values = items.length * itemSize;
      const reused = spare.take(values * Float32Array.BYTES_PER_ELEMENT);
      const batch = reused ? new Float32Array(reused) : new Float32Array(values);
      items.forEach((item, i) => {
        if (item.length !== itemSize) throw new ApiError('internal', `item ${i} has ${item.length} values, expected ${itemSize}`);
        batch.set(item, i * itemSize);
      });
      return { [io.inputName]: { type: 'float32', dims: [items.length, ...io.itemDims], data: batch } };
    },
    onFeedsReturned(feeds: NamedTensors): void {
      const returned = feeds[io.inputName];
      if (returned) spare.give(returned.data);
    },
  };
}

/** An output of a batch run, checked: float32 with one row per item. */
export function batchOutput(outputs: NamedTensors, name: string, batchSize: number): { data: Float32Array; rowDims: number[]; rowSize: number } {
  const output = outputs[name];
  if (!output || !(output.data instanceof Float32Array) || output.dims[0] !== batchSize) {
    throw new ApiError('internal', `the model returned no float32 '${name}' with batch ${batchSize}`);
  }
  const rowDims = output.dims.slice(1);
  return { data: output.data, rowDims, rowSize: elementCount(rowDims) };
}

/** Stacks items into one batch tensor, runs it on an idle instance and splits the output rows. */
export function encoderRunBatch(pool: Pick<WorkerPool, 'run'>, io: EncoderIo): RunBatch<Float32Array, EncodedRow> {
  const stacker = batchStacker(io);
  return async (items) => {
    const feeds = stacker.stack(items);
    const started = performance.now();
    const outputs = await pool.run(io.session, feeds, [io.outputName], { onFeedsReturned: stacker.onFeedsReturned });
    const inferenceMs = performance.now() - started;
    const { data, rowDims, rowSize } = batchOutput(outputs, io.outputName, items.length);
    return items.map((_, i) => ({
      row: data.slice(i * rowSize, (i + 1) * rowSize),
      dims: rowDims,
      batchSize: items.length,
      inferenceMs,
    }));
  };
}
