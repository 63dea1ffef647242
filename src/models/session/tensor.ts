/**
 * Plain tensors that cross the worker boundary (structured clone + transferred buffers).
 * Only the session worker turns them into onnxruntime tensors.
 */

export type TensorType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool' | 'uint8' | 'int8';

export type TensorData = Float32Array | Uint16Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

export interface PlainTensor {
  type: TensorType;
  dims: number[];
  data: TensorData;
}

export type NamedTensors = Record<string, PlainTensor>;

/** The buffers to transfer (not copy) when posting tensors to another thread. */
export function transferablesOf(tensors: NamedTensors): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const tensor of Object.values(tensors)) {
    const buffer = tensor.data.buffer;
    if (buffer instanceof ArrayBuffer) buffers.add(buffer);
  }
  return [...buffers];
}

/** Number of elements a tensor of these dims holds. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, dim) => product * dim, 1);
}
