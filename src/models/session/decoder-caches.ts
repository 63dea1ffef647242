/**
 * The KV caches a session worker keeps between decoder steps (worker side of `CacheStep`): a
 * step's pasts come from here, its presents go back here, and only the outputs the caller asked
 * for leave the thread. The caches are onnxruntime's own output tensors, fed back as inputs.
 */
import * as ort from 'onnxruntime-node';
import type { CacheStep, ValueInfo } from './worker-protocol.js';

type Tensors = Record<string, ort.Tensor>;

const EMPTY: Record<string, () => ort.Tensor['data']> = {
  float32: () => new Float32Array(0),
  float16: () => new Uint16Array(0),
};

/** One group of rows' cache: the pasts the next step reads, and the inputs kept for every step. */
interface Cache {
  pasts: Tensors;
  kept: Tensors;
  rows: number;
}

export class DecoderCaches {
  private readonly caches = new Map<string, Cache>();

  /**
   * What this step takes from the cache: empty pasts at the start (batch from the step's input
   * ids), else the kept pasts and kept inputs, cut to `keepRows`.
   */
  pasts(step: CacheStep, inputs: readonly ValueInfo[], batch: number): Tensors {
    if (step.start) {
      this.caches.delete(step.id);
      return Object.fromEntries(Object.keys(step.pastToPresent).map((name) => [name, emptyPast(inputs, name, batch)]));
    }
    let cache = this.caches.get(step.id);
    if (!cache) throw new Error(`no decoder cache '${step.id}' in this worker (released, or the worker was replaced)`);
    if (step.keepRows) {
      const cut = (tensors: Tensors) => Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, rowsOf(tensor, step.keepRows!, cache!.rows)]));
      cache = { pasts: cut(cache.pasts), kept: cut(cache.kept), rows: step.keepRows.length };
      this.caches.set(step.id, cache);
    }
    return { ...cache.kept, ...cache.pasts };
  }

  /**
   * Keeps the step's presents as the next step's pasts; at the start also the inputs to keep and
   * what was computed from them (`precomputed`, e.g. the encoder projections).
   */
  keep(step: CacheStep, feeds: Tensors, outputs: Tensors, precomputed: Tensors = {}): void {
    const pasts = Object.fromEntries(Object.entries(step.pastToPresent).map(([past, present]) => [past, outputs[present]!]));
    if (!step.start) {
      const cache = this.caches.get(step.id)!;
      return void this.caches.set(step.id, { ...cache, pasts });
    }
    // Kept inputs are copied: the feeds' buffers go back to the caller with the result.
    const kept = { ...Object.fromEntries((step.keepInputs ?? []).map((name) => [name, copyOf(feeds[name]!)])), ...precomputed };
    const rows = Number(Object.values(pasts)[0]?.dims[0] ?? 0);
    this.caches.set(step.id, { pasts, kept, rows });
  }

  /** The bytes a cache holds: its pasts and its kept inputs. */
  bytes(id: string): number {
    const cache = this.caches.get(id);
    if (!cache) return 0;
    return [...Object.values(cache.pasts), ...Object.values(cache.kept)].reduce((sum, tensor) => sum + (tensor.data as ArrayBufferView).byteLength, 0);
  }

  release(id: string): void {
    this.caches.delete(id);
  }

  get size(): number {
    return this.caches.size;
  }
}

function emptyPast(inputs: readonly ValueInfo[], name: string, batch: number): ort.Tensor {
  const info = inputs.find((input) => input.name === name);
  if (!info) throw new Error(`the session has no input '${name}'`);
  const make = EMPTY[String(info.type)];
  if (!make) throw new Error(`past '${name}' has type ${info.type}; expected float32 or float16`);
  // [batch, heads, past length, head dim]: the symbolic past axis is empty, the batch axis is the step's.
  const dims = info.shape.map((d, i) => (i === 0 ? batch : typeof d === 'number' ? d : 0));
  return new ort.Tensor(info.type as 'float32', make() as Float32Array, dims);
}

function copyOf(tensor: ort.Tensor): ort.Tensor {
  return new ort.Tensor(tensor.type as 'float32', (tensor.data as Float32Array).slice(), tensor.dims as number[]);
}

/**
 * The given batch rows of a tensor of `batch` rows, copied. The first axis holds the rows, possibly
 * with more per row (a projection of [rows × tokens, width]): each row is a contiguous block.
 */
function rowsOf(tensor: ort.Tensor, rows: readonly number[], batch: number): ort.Tensor {
  const [first, ...rest] = tensor.dims as number[];
  if (first! % batch !== 0) throw new Error(`a kept tensor of ${first} on its first axis cannot hold ${batch} rows`);
  const perRow = first! / batch;
  const rowSize = tensor.data.length / batch;
  const data = tensor.data as Float32Array | Uint16Array;
  const out = new (data.constructor as Float32ArrayConstructor)(rows.length * rowSize);
  rows.forEach((row, i) => {
    if (row < 0 || row >= batch) throw new Error(`row ${row} is not in a cache of ${batch} rows`);
    out.set(data.subarray(row * rowSize, (row + 1) * rowSize), i * rowSize);
  });
  return new ort.Tensor(tensor.type as 'float32', out, [rows.length * perRow, ...rest]);
}

/** The last position of a [batch, length, …] tensor: [batch, …]. */
export function lastPosition(tensor: ort.Tensor): ort.Tensor {
  const [batch, length, ...rest] = tensor.dims as number[];
  const size = rest.reduce((a, b) => a * b, 1);
  const data = tensor.data as Float32Array;
  const out = new (data.constructor as Float32ArrayConstructor)(batch! * size);
  for (let b = 0; b < batch!; b++) out.set(data.subarray((b * length! + length! - 1) * size, (b * length! + length!) * size), b * size);
  return new ort.Tensor(tensor.type as 'float32', out, [batch!, ...rest]);
}
