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
   * ids), else the kept pasts and kept inputs, with `mergeFrom` appended, then laid out by
   * `keepRows`, then `trimLeft` applied.
   */
  pasts(step: CacheStep, inputs: readonly ValueInfo[], batch: number): Tensors {
    if (step.start) {
      this.caches.delete(step.id);
      const taken = new Set(inputs.map((input) => input.name));
      return Object.fromEntries(Object.keys(step.pastToPresent).filter((name) => taken.has(name)).map((name) => [name, emptyPast(inputs, name, batch)]));
    }
    let cache = this.cache(step.id);
    const growing = new Set(step.growingPasts ?? []);
    for (const other of step.mergeFrom ?? []) {
      cache = appendRows(cache, this.cache(other), growing);
      this.caches.delete(other);
    }
    if (step.keepRows) {
      const cut = (tensors: Tensors) => Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, rowsOf(tensor, step.keepRows!, cache.rows)]));
      cache = { pasts: cut(cache.pasts), kept: cut(cache.kept), rows: step.keepRows.length };
    }
    if (step.trimLeft) {
      const trim = step.trimLeft;
      cache = { ...cache, pasts: mapEntries(cache.pasts, (name, tensor) => (growing.has(name) ? dropLeading(tensor, trim) : tensor)) };
    }
    this.caches.set(step.id, cache);
    return { ...cache.kept, ...cache.pasts };
  }

  private cache(id: string): Cache {
    const cache = this.caches.get(id);
    if (!cache) throw new Error(`no decoder cache '${id}' in this worker (released, or the worker was replaced)`);
    return cache;
  }

  /**
   * Keeps the step's presents as the next step's pasts; at the start also the inputs to keep and
   * what was computed from them (`precomputed`, e.g. the encoder projections).
   */
  keep(step: CacheStep, feeds: Tensors, outputs: Tensors, precomputed: Tensors = {}): void {
    const pasts = Object.fromEntries(Object.entries(step.pastToPresent).flatMap(([past, present]) => (outputs[present] ? [[past, outputs[present]]] : [])));
    if (!step.start) {
      const cache = this.caches.get(step.id)!;
      return void this.caches.set(step.id, { ...cache, pasts: { ...cache.pasts, ...pasts } });
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

function mapEntries(tensors: Tensors, map: (name: string, tensor: ort.Tensor) => ort.Tensor): Tensors {
  return Object.fromEntries(Object.entries(tensors).map(([name, tensor]) => [name, map(name, tensor)]));
}

/** A [batch, heads, length, dim] past without its first `count` positions, copied. */
function dropLeading(tensor: ort.Tensor, count: number): ort.Tensor {
  const [batch, heads, length, dim] = tensor.dims as number[];
  return padOrCutLeading(tensor, length! - count, batch! * heads!, dim!);
}

/**
 * Rows of [outer, length, dim] blocks (outer = batch × heads) re-laid to `length` positions,
 * aligned right: positions are dropped from the left, or zeros added there (left padding).
 */
function padOrCutLeading(tensor: ort.Tensor, length: number, outer: number, dim: number): ort.Tensor {
  const from = (tensor.dims as number[])[2]!;
  const data = tensor.data as Float32Array | Uint16Array;
  const out = new (data.constructor as Float32ArrayConstructor)(outer * length * dim);
  const keep = Math.min(from, length);
  for (let block = 0; block < outer; block++) {
    out.set(data.subarray((block * from + from - keep) * dim, (block + 1) * from * dim), (block * length + length - keep) * dim);
  }
  const dims = [...(tensor.dims as number[])];
  dims[2] = length;
  return new ort.Tensor(tensor.type as 'float32', out, dims);
}

/** Two caches as one: `b`'s rows after `a`'s, the growing pasts left-padded to the longer length. */
function appendRows(a: Cache, b: Cache, growing: ReadonlySet<string>): Cache {
  const concat = (x: ort.Tensor, y: ort.Tensor): ort.Tensor => {
    const data = new ((x.data as Float32Array).constructor as Float32ArrayConstructor)(x.data.length + y.data.length);
    data.set(x.data as Float32Array);
    data.set(y.data as Float32Array, x.data.length);
    const dims = [...(x.dims as number[])];
    dims[0] = dims[0]! + (y.dims as number[])[0]!;
    return new ort.Tensor(x.type as 'float32', data, dims);
  };
  const pasts = mapEntries(a.pasts, (name, x) => {
    const y = b.pasts[name];
    if (!y) throw new Error(`a merged cache has no past '${name}'`);
    if (!growing.has(name)) return concat(x, y);
    const length = Math.max((x.dims as number[])[2]!, (y.dims as number[])[2]!);
    const aligned = (t: ort.Tensor) => ((t.dims as number[])[2] === length ? t : padOrCutLeading(t, length, (t.dims as number[])[0]! * (t.dims as number[])[1]!, (t.dims as number[])[3]!));
    return concat(aligned(x), aligned(y));
  });
  const kept = mapEntries(a.kept, (name, x) => concat(x, b.kept[name]!));
  return { pasts, kept, rows: a.rows + b.rows };
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
