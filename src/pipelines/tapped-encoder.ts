/**
 * The `runBatch` of an encoder whose session also outputs intermediate tensors (attention
 * probabilities, hidden states: "taps", added by graph surgery at load). Each item names the taps
 * it needs; a batch fetches the union, so a run copies out only what some item asked for.
 */
import type { WorkerPool } from '../models/session/worker-pool.js';
import { batchOutput, batchStacker, type EncoderIo } from './batched-encoder.js';
import type { RunBatch } from './batcher.js';

export interface TappedItem {
  pixels: Float32Array;
  /** Graph outputs to fetch besides the encoder's own output. */
  taps: readonly string[];
}

/** A view of one item's slice of a batch output. */
export interface TapRow {
  data: Float32Array;
  dims: number[];
}

export interface TappedRow {
  /** The encoder's output row (logits, an image embedding). */
  row: Float32Array;
  /** Only the taps the item named; views into the batch's buffers (not copied). */
  taps: Map<string, TapRow>;
  batchSize: number;
  inferenceMs: number;
}

export function tappedEncoderRunBatch(pool: Pick<WorkerPool, 'run'>, io: EncoderIo): RunBatch<TappedItem, TappedRow> {
  const stacker = batchStacker(io);
  return async (items) => {
    const feeds = stacker.stack(items.map((item) => item.pixels));
    const wanted = [...new Set(items.flatMap((item) => item.taps))];
    const started = performance.now();
    const outputs = await pool.run(io.session, feeds, [io.outputName, ...wanted], { onFeedsReturned: stacker.onFeedsReturned });
    const inferenceMs = performance.now() - started;
    const main = batchOutput(outputs, io.outputName, items.length);
    const tapOutputs = new Map(wanted.map((name) => [name, batchOutput(outputs, name, items.length)]));
    return items.map((item, i) => ({
      row: main.data.slice(i * main.rowSize, (i + 1) * main.rowSize),
      taps: new Map(
        item.taps.map((name) => {
          const tap = tapOutputs.get(name)!;
          return [name, { data: tap.data.subarray(i * tap.rowSize, (i + 1) * tap.rowSize), dims: tap.rowDims }];
        }),
      ),
      batchSize: items.length,
      inferenceMs,
    }));
  };
}
