/**
 * A small, generic ONNX graph builder over `onnx-proto` (protobufjs types for onnx.proto).
 * Used to generate random-weight test models with the real Hugging Face contracts; the same
 * code serves later graphs (CLIP towers, merged decoders with KV caches, LLaVA pieces).
 *
 *   const g = new OnnxGraphBuilder({ graphName: 'tiny' });
 *   const x = g.input('x', 'float32', ['batch_size', 4]);
 *   const w = g.initializer('w', 'float32', [4, 2], new Float32Array(8).fill(0.5));
 *   const y = g.op('MatMul', [x, w], { name: '/MatMul' });
 *   g.node('Softmax', [y], { name: '/Softmax', attrs: { axis: -1 }, outputs: ['probs'] });
 *   g.output('probs', 'float32', ['batch_size', 2]);
 *   const bytes = g.toBytes(); // or: await g.save('onnx/model.onnx')
 */
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type ModelProto = onnxProto.onnx.IModelProto;
type TensorProto = onnxProto.onnx.ITensorProto;
type NodeProto = onnxProto.onnx.INodeProto;
type ValueInfoProto = onnxProto.onnx.IValueInfoProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;
type GraphProto = onnxProto.onnx.IGraphProto;

/** ONNX opset 17 has LayerNormalization; IR 8 is what opset 17 needs and ORT 1.30 reads. */
export const DEFAULT_OPSET = 17;
export const DEFAULT_IR_VERSION = 8;
/** Protobuf messages cannot exceed 2 GB; above this many initializer bytes, weights go external. */
export const DEFAULT_EXTERNAL_DATA_THRESHOLD = 2 ** 31 - 2 ** 24;

export type DType = 'float32' | 'float16' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';
/** A fixed size, or a named dynamic axis such as 'batch_size'. */
export type Dim = number | string;
export type TensorData =
  | Float32Array
  | BigInt64Array
  | Int32Array
  | Int8Array
  | Uint8Array
  | Uint16Array // float16 bits
  | readonly number[];

const DTYPES: Record<DType, { code: number; bytes: number }> = {
  float32: { code: onnx.TensorProto.DataType.FLOAT, bytes: 4 },
  float16: { code: onnx.TensorProto.DataType.FLOAT16, bytes: 2 },
  int64: { code: onnx.TensorProto.DataType.INT64, bytes: 8 },
  int32: { code: onnx.TensorProto.DataType.INT32, bytes: 4 },
  int8: { code: onnx.TensorProto.DataType.INT8, bytes: 1 },
  uint8: { code: onnx.TensorProto.DataType.UINT8, bytes: 1 },
  bool: { code: onnx.TensorProto.DataType.BOOL, bytes: 1 },
};

/**
 * Attribute values: an integer number is INT, a non-integer FLOAT; arrays likewise (INTS unless
 * some element is fractional). `{ float: 1 }` / `{ floats: [...] }` force floats; strings are
 * STRING; `{ tensor }` is a TENSOR (Constant, ConstantOfShape); `{ graph }` a GRAPH (If/Loop
 * branches: a builder whose outputs are declared and which may read outer-scope names).
 */
export type AttrValue =
  | number
  | string
  | readonly number[]
  | { float: number }
  | { floats: readonly number[] }
  | { tensor: { dtype: DType; dims: readonly number[]; data: TensorData } }
  | { graph: OnnxGraphBuilder };

export interface NodeOptions {
  /** Explicit node name, e.g. '/vit/encoder/layer.0/attention/attention/Softmax'. */
  name: string;
  attrs?: Record<string, AttrValue>;
  domain?: string;
  /** Output names, or a count; default 1 output named `${name}_output_${i}` (as torch exports). */
  outputs?: number | readonly string[];
}

export interface SaveOptions {
  /** Total initializer bytes above which tensors go to `<file>_data` (default just under 2 GB). */
  externalDataThreshold?: number;
}

function toBytes(dtype: DType, data: TensorData): Uint8Array {
  let typed: ArrayBufferView;
  if (ArrayBuffer.isView(data)) typed = data;
  else if (dtype === 'int64') typed = BigInt64Array.from(data, (v) => BigInt(v));
  else if (dtype === 'float32') typed = Float32Array.from(data);
  else if (dtype === 'int32') typed = Int32Array.from(data);
  else if (dtype === 'int8') typed = Int8Array.from(data);
  else if (dtype === 'float16') typed = Uint16Array.from(data);
  else typed = Uint8Array.from(data); // uint8, bool
  return new Uint8Array(typed.buffer, typed.byteOffset, typed.byteLength);
}

function tensorProto(name: string, dtype: DType, dims: readonly number[], data: TensorData): TensorProto {
  const raw = toBytes(dtype, data);
  const count = dims.reduce((a, b) => a * b, 1);
  if (raw.byteLength !== count * DTYPES[dtype].bytes) {
    throw new Error(`tensor ${name}: ${raw.byteLength} bytes for ${dtype}[${dims.join(',')}]`);
  }
  return { name, dataType: DTYPES[dtype].code, dims: [...dims], rawData: raw };
}

function attribute(name: string, value: AttrValue): AttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if (typeof value === 'string') return { name, type: T.STRING, s: new TextEncoder().encode(value) };
  if (typeof value === 'number') {
    return Number.isInteger(value) ? { name, type: T.INT, i: value } : { name, type: T.FLOAT, f: value };
  }
  if (Array.isArray(value)) {
    const nums = value as readonly number[];
    return nums.every(Number.isInteger)
      ? { name, type: T.INTS, ints: [...nums] }
      : { name, type: T.FLOATS, floats: [...nums] };
  }
  if ('float' in value) return { name, type: T.FLOAT, f: value.float };
  if ('floats' in value) return { name, type: T.FLOATS, floats: [...value.floats] };
  if ('tensor' in value) {
    const { dtype, dims, data } = value.tensor;
    return { name, type: T.TENSOR, t: tensorProto('', dtype, dims, data) };
  }
  if ('graph' in value) return { name, type: T.GRAPH, g: value.graph.toGraph() };
  throw new Error(`attribute ${name}: unsupported value`);
}

function valueInfo(name: string, dtype: DType, dims: readonly Dim[]): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DTYPES[dtype].code,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export class OnnxGraphBuilder {
  readonly graphName: string;
  private readonly opsets: Record<string, number>;
  private readonly producerName: string;
  private readonly docString: string | undefined;
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly nodes: NodeProto[] = [];
  private readonly initializers = new Map<string, TensorProto>();
  private readonly nodeNames = new Set<string>();
  private initBytes = 0;

  constructor(options: { graphName: string; opset?: number; extraOpsets?: Record<string, number>; producerName?: string; docString?: string }) {
    this.graphName = options.graphName;
    this.opsets = { '': options.opset ?? DEFAULT_OPSET, ...options.extraOpsets };
    this.producerName = options.producerName ?? 'multimodal-inference-server test-model generator';
    this.docString = options.docString;
  }

  /** Declares a graph input and returns its name. */
  input(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.inputs.push(valueInfo(name, dtype, dims));
    return name;
  }

  /** Declares a graph output (any tensor a node produces) and returns its name. */
  output(name: string, dtype: DType, dims: readonly Dim[]): string {
    this.outputs.push(valueInfo(name, dtype, dims));
    return name;
  }

  /** Adds a weight or constant stored as raw little-endian bytes; returns its name. */
  initializer(name: string, dtype: DType, dims: readonly number[], data: TensorData): string {
    if (this.initializers.has(name)) throw new Error(`duplicate initializer ${name}`);
    const tensor = tensorProto(name, dtype, dims, data);
    this.initBytes += tensor.rawData?.byteLength ?? 0;
    this.initializers.set(name, tensor);
    return name;
  }

  /** Adds an initializer as given (a converted copy of another graph's). */
  addInitializer(tensor: TensorProto): void {
    const name = tensor.name ?? '';
    if (this.initializers.has(name)) throw new Error(`duplicate initializer ${name}`);
    this.initBytes += tensor.rawData?.byteLength ?? 0;
    this.initializers.set(name, tensor);
  }

  /** Like `initializer`, but returns the existing one when `name` is already defined (shared constants). */
  constant(name: string, dtype: DType, dims: readonly number[], data: TensorData): string {
    return this.initializers.has(name) ? name : this.initializer(name, dtype, dims, data);
  }

  /** Adds a node; returns its output names. Empty strings in `inputs` mark omitted optional inputs. */
  node(opType: string, inputs: readonly string[], options: NodeOptions): string[] {
    const { name, attrs = {}, domain, outputs = 1 } = options;
    if (this.nodeNames.has(name)) throw new Error(`duplicate node name ${name}`);
    this.nodeNames.add(name);
    const outs = typeof outputs === 'number' ? Array.from({ length: outputs }, (_, i) => `${name}_output_${i}`) : [...outputs];
    this.nodes.push({
      name,
      opType,
      domain: domain ?? '',
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return outs;
  }

  /** Adds a node as given (a rewritten copy of another graph's node). */
  addNode(node: NodeProto): void {
    const name = node.name ?? '';
    if (this.nodeNames.has(name)) throw new Error(`duplicate node name ${name}`);
    this.nodeNames.add(name);
    this.nodes.push(node);
  }

  /** The declared graph inputs and outputs. */
  get graphInputs(): readonly ValueInfoProto[] {
    return this.inputs;
  }

  get graphOutputs(): readonly ValueInfoProto[] {
    return this.outputs;
  }

  /** A single-output node; returns the output name. */
  op(opType: string, inputs: readonly string[], options: Omit<NodeOptions, 'outputs'> & { output?: string }): string {
    const outs = this.node(opType, inputs, { ...options, outputs: options.output === undefined ? 1 : [options.output] });
    return outs[0] as string;
  }

  get initializerBytes(): number {
    return this.initBytes;
  }

  /** A weight as stored (raw little-endian bytes), or undefined. */
  initializerOf(name: string): TensorProto | undefined {
    return this.initializers.get(name);
  }

  /**
   * A copy of this graph (inputs, outputs, opsets) with each node passed to `rewrite`, which
   * either adds its replacement to the copy and returns true, or returns false to keep the node.
   * The initializers the copy's nodes still read are carried over.
   */
  rewritten(rewrite: (node: NodeProto, target: OnnxGraphBuilder) => boolean): OnnxGraphBuilder {
    const target = new OnnxGraphBuilder({ graphName: this.graphName, opset: this.opsets[''], extraOpsets: this.opsets, docString: this.docString });
    target.inputs.push(...this.inputs);
    target.outputs.push(...this.outputs);
    for (const node of this.nodes) {
      if (rewrite(node, target)) continue;
      target.nodes.push(node);
      target.nodeNames.add(node.name ?? '');
    }
    const read = new Set(target.nodes.flatMap((node) => node.input ?? []));
    for (const [name, tensor] of this.initializers) {
      if (!read.has(name) || target.initializers.has(name)) continue;
      target.initializers.set(name, tensor);
      target.initBytes += tensor.rawData?.byteLength ?? 0;
    }
    return target;
  }

  /** The GraphProto (also what a GRAPH attribute embeds). */
  toGraph(): GraphProto {
    return {
      name: this.graphName,
      input: this.inputs,
      output: this.outputs,
      node: this.nodes,
      initializer: [...this.initializers.values()],
    };
  }

  /** The ModelProto with every initializer inline. */
  toModel(): ModelProto {
    return {
      irVersion: DEFAULT_IR_VERSION,
      producerName: this.producerName,
      docString: this.docString ?? '',
      opsetImport: Object.entries(this.opsets).map(([domain, version]) => ({ domain, version })),
      graph: this.toGraph(),
    };
  }

  /** Serialised model bytes with weights inline (must stay under protobuf's 2 GB limit). */
  toBytes(): Uint8Array {
    return onnx.ModelProto.encode(this.toModel()).finish();
  }

  /**
   * Writes the model to `filePath`; when the initializers exceed the threshold, tensors of 1 KiB
   * or more go to `<basename>_data` beside it (data_location EXTERNAL, location/offset/length).
   */
  async save(filePath: string, options: SaveOptions = {}): Promise<void> {
    const threshold = options.externalDataThreshold ?? DEFAULT_EXTERNAL_DATA_THRESHOLD;
    if (this.initBytes <= threshold) {
      await writeFile(filePath, this.toBytes());
      return;
    }
    const location = `${path.basename(filePath)}_data`;
    const model = this.toModel();
    const tensors = (model.graph!.initializer = [...this.initializers.values()]);
    const file = await open(path.join(path.dirname(filePath), location), 'w');
    try {
      let offset = 0;
      for (const [i, tensor] of tensors.entries()) {
        const raw = tensor.rawData;
        if (!raw || raw.byteLength < 1024) continue;
        await file.write(raw, 0, raw.byteLength, offset);
        tensors[i] = {
          ...tensor,
          rawData: null,
          dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
          externalData: [
            { key: 'location', value: location },
            { key: 'offset', value: String(offset) },
            { key: 'length', value: String(raw.byteLength) },
          ],
        };
        offset += raw.byteLength;
      }
    } finally {
      await file.close();
    }
    await writeFile(filePath, onnx.ModelProto.encode(model).finish());
  }
}
