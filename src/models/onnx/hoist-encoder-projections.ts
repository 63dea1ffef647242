/**
 * Splits a decoder's per-caption work out of its steps. A cross-attending decoder exported the
 * way vit-gpt2's is recomputes the keys and values of every image token at every step (its cache
 * holds only self-attention), which is ~95% of a step's FLOPs; they depend on nothing but the
 * encoder's output. This rewrite finds the matrix products that depend only on the encoder input
 * (and weights), moves them and everything computed from them up to where step inputs first mix
 * in (the "projections") into a graph of their own, and makes the decoder read them as inputs.
 * The worker runs that graph once per group of rows and keeps its outputs beside the KV cache
 * (docs/architecture.md, "Decoder caches").
 *
 * It works on any graph, merged decoders' `If` branches included (both branches read the same
 * projections: static tensors are identified by what computes them, not by their names). Shape
 * computations (Shape, Size and what follows from them) stay in the decoder, so the hoisted tensors
 * are activations whose first axis is the batch, cut and stacked by rows like the KV cache.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
type Model = onnxProto.onnx.IModelProto;
type Graph = onnxProto.onnx.IGraphProto;
type Node = onnxProto.onnx.INodeProto;
type Tensor = onnxProto.onnx.ITensorProto;
const DataType = onnx.TensorProto.DataType;
const AttributeType = onnx.AttributeProto.AttributeType;

/** Ops whose cost scales with the encoder's tokens × weights: what is worth hoisting. */
const PRODUCTS = new Set(['MatMul', 'Gemm', 'MatMulInteger', 'FusedMatMul', 'Conv', 'ConvInteger', 'QLinearMatMul', 'QLinearConv', 'MatMulNBits', 'DynamicQuantizeMatMul']);
/** Ops that read only a tensor's shape: their results stay in the decoder (they carry no batch axis). */
const SHAPE_OPS = new Set(['Shape', 'Size']);
/** The decoder's new inputs are named `encoder_projection.<i>`. */
export const PROJECTION_INPUT_PREFIX = 'encoder_projection.';

export interface HoistedDecoder {
  /** The decoder, reading the projections as inputs (it still declares the encoder input). */
  decoder: Model;
  /** encoder input → `encoder_projection.<i>` outputs. */
  projections: Model;
  /** The projections' names, in output order. */
  names: string[];
}

/** What computes a static tensor: the encoder input, a weight, or a node's output. */
type Definition =
  | { kind: 'encoder' }
  | { kind: 'initializer'; tensor: Tensor }
  | { kind: 'node'; node: Node; nodeKey: string; inputKeys: string[] };

interface StaticTensor {
  key: string;
  /** Computed from the encoder input (not only from weights and constants). */
  fromEncoder: boolean;
  /** Computed through a product over the encoder input, not through a shape op: hoistable. */
  projected: boolean;
  elemType: number | undefined;
}

/** Names visible in a scope (its own, then its parents'). */
class ScopeNames {
  private readonly own = new Map<string, StaticTensor>();
  constructor(private readonly parent?: ScopeNames) {}
  get(name: string): StaticTensor | undefined {
    return this.own.get(name) ?? this.parent?.get(name);
  }
  set(name: string, tensor: StaticTensor): void {
    this.own.set(name, tensor);
  }
}

/**
 * The decoder split in two, or undefined when no product depends on the encoder input alone.
 * Throws when a hoisted tensor's element type cannot be worked out (the caller keeps the
 * original graph).
 */
export function hoistEncoderProjections(model: Model, encoderInput: string): HoistedDecoder | undefined {
  if (!model.graph) throw new Error('the model has no graph');
  // Analysed and rewritten on a copy of the structure; the weights' bytes are shared, not copied.
  const decoder = structuredCloneModel(model);
  const main = decoder.graph!;
  const input = main.input?.find((value) => value.name === encoderInput);
  if (!input) throw new Error(`the graph has no input '${encoderInput}'`);
  const analysis = new Analysis(input.type?.tensorType?.elemType ?? undefined);
  analysis.scope(main, new ScopeNames(), true, encoderInput);
  if (analysis.hoisted.size === 0) return undefined;

  const hoisted = [...analysis.hoisted.values()];
  const projections = projectionsModel(model, input, analysis);
  rewriteScope(main, analysis, new Map());
  pruneDeadCode(main);
  main.input!.push(...hoisted.map(({ name, elemType }) => ({ name, type: { tensorType: { elemType } } })));
  return { decoder, projections, names: hoisted.map((h) => h.name) };
}

interface Hoisted {
  name: string;
  key: string;
  elemType: number;
}

class Analysis {
  /** By key: every static tensor's definition (what the projections graph is built from). */
  readonly definitions = new Map<string, Definition>();
  /** By key: the tensors the decoder will read as inputs. */
  readonly hoisted = new Map<string, Hoisted>();
  /** Per graph: the nodes the decoder drops, and the names it reads from the projections instead. */
  readonly removed = new Map<Graph, Set<Node>>();
  readonly renamed = new Map<Graph, Map<string, string>>();

  constructor(private readonly encoderType: number | undefined) {}

  scope(graph: Graph, parent: ScopeNames, isMain: boolean, encoderInput: string): void {
    const names = new ScopeNames(parent);
    if (isMain) {
      names.set(encoderInput, { key: 'encoder', fromEncoder: true, projected: false, elemType: this.encoderType });
      this.definitions.set('encoder', { kind: 'encoder' });
    }
    for (const tensor of graph.initializer ?? []) {
      const key = `initializer:${isMain ? '' : `${graph.name}/`}${tensor.name}`;
      names.set(tensor.name!, { key, fromEncoder: false, projected: false, elemType: tensor.dataType ?? undefined });
      this.definitions.set(key, { kind: 'initializer', tensor });
    }
    // Names the graph declares as inputs (other than the encoder's) are per step: not static.
    const declaredTypes = new Map((graph.valueInfo ?? []).map((v) => [v.name!, v.type?.tensorType?.elemType ?? undefined]));
    const projectedNodes = new Set<Node>();
    for (const node of graph.node ?? []) {
      const subgraphs = subgraphsOf(node);
      if (subgraphs.length > 0) {
        for (const subgraph of subgraphs) this.scope(subgraph, names, false, encoderInput);
        continue;
      }
      const inputs = (node.input ?? []).filter((name) => name !== '').map((name) => names.get(name));
      if (inputs.some((tensor) => tensor === undefined)) continue;
      const statics = inputs as StaticTensor[];
      const fromEncoder = statics.some((t) => t.fromEncoder);
      const projected =
        fromEncoder && !SHAPE_OPS.has(node.opType!) && (PRODUCTS.has(node.opType!) || statics.some((t) => t.projected));
      if (projected) projectedNodes.add(node);
      const inputKeys = (node.input ?? []).map((name) => (name === '' ? '' : names.get(name)!.key));
      const nodeKey = hash([node.domain ?? '', node.opType, attributesHash(node), ...inputKeys].join('|'));
      this.definitions.set(nodeKey, { kind: 'node', node, nodeKey, inputKeys });
      const types = outputTypes(node, statics.map((t) => t.elemType));
      (node.output ?? []).forEach((name, i) => {
        if (name === '') return;
        names.set(name, { key: `${nodeKey}#${i}`, fromEncoder, projected, elemType: declaredTypes.get(name) ?? types[i] });
      });
    }
    this.markBoundary(graph, names, projectedNodes);
  }

  /** Projected tensors read by a node that stays, by a nested graph, or as the graph's output. */
  private markBoundary(graph: Graph, names: ScopeNames, projectedNodes: Set<Node>): void {
    const staying = (graph.node ?? []).filter((node) => !projectedNodes.has(node));
    const read = new Set<string>([...staying.flatMap((node) => [...(node.input ?? []), ...namesReadBySubgraphs(node)]), ...(graph.output ?? []).map((o) => o.name!)]);
    const renamed = new Map<string, string>();
    for (const node of projectedNodes) {
      for (const name of node.output ?? []) {
        if (!read.has(name)) continue;
        const tensor = names.get(name)!;
        let hoisted = this.hoisted.get(tensor.key);
        if (!hoisted) {
          if (tensor.elemType === undefined) throw new Error(`cannot tell the element type of '${name}'`);
          hoisted = { name: `${PROJECTION_INPUT_PREFIX}${this.hoisted.size}`, key: tensor.key, elemType: tensor.elemType };
          this.hoisted.set(tensor.key, hoisted);
        }
        renamed.set(name, hoisted.name);
      }
    }
    if (projectedNodes.size > 0) this.removed.set(graph, projectedNodes);
    if (renamed.size > 0) this.renamed.set(graph, renamed);
  }
}

/** The decoder's graphs without the hoisted nodes, reading the projections by their new names. */
function rewriteScope(graph: Graph, analysis: Analysis, outer: Map<string, string>): void {
  const removed = analysis.removed.get(graph);
  // Names this graph defines itself shadow the outer renames.
  const own = new Set([...(graph.node ?? []).flatMap((n) => n.output ?? []), ...(graph.input ?? []).map((v) => v.name!), ...(graph.initializer ?? []).map((t) => t.name!)]);
  const renames = new Map([...outer].filter(([name]) => !own.has(name)));
  for (const [from, to] of analysis.renamed.get(graph) ?? []) renames.set(from, to);
  graph.node = (graph.node ?? []).filter((node) => !removed?.has(node));
  for (const node of graph.node) {
    node.input = (node.input ?? []).map((name) => renames.get(name) ?? name);
    for (const subgraph of subgraphsOf(node)) rewriteScope(subgraph, analysis, renames);
  }
  for (const output of graph.output ?? []) {
    const source = renames.get(output.name!);
    if (source) graph.node.push({ opType: 'Identity', name: `${output.name}/from_projection`, input: [source], output: [output.name!] });
  }
}

/** Drops nodes whose outputs nothing reads, then weights nothing reads, then stale value infos. */
function pruneDeadCode(main: Graph): void {
  const graphs = allGraphs(main);
  for (let changed = true; changed; ) {
    changed = false;
    const read = new Set(graphs.flatMap((g) => [...(g.node ?? []).flatMap((n) => n.input ?? []), ...(g.output ?? []).map((o) => o.name!)]));
    for (const graph of graphs) {
      const before = graph.node!.length;
      graph.node = graph.node!.filter((node) => subgraphsOf(node).length > 0 || (node.output ?? []).some((name) => read.has(name)));
      changed ||= graph.node.length !== before;
    }
  }
  const read = new Set(graphs.flatMap((g) => (g.node ?? []).flatMap((n) => n.input ?? [])));
  const produced = new Set(graphs.flatMap((g) => (g.node ?? []).flatMap((n) => n.output ?? [])));
  for (const graph of graphs) {
    graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name!));
    graph.valueInfo = (graph.valueInfo ?? []).filter((v) => produced.has(v.name!));
  }
}

/** encoder input → projections: every node the hoisted tensors need, once each, in order. */
function projectionsModel(model: Model, encoderInput: onnxProto.onnx.IValueInfoProto, analysis: Analysis): Model {
  const nodes: Node[] = [];
  const initializers: Tensor[] = [];
  const tensorNames = new Map<string, string>([['encoder', encoderInput.name!]]);
  for (const { key, name } of analysis.hoisted.values()) tensorNames.set(key, name);
  const nameOf = (key: string): string => {
    let name = tensorNames.get(key);
    if (!name) tensorNames.set(key, (name = `t${tensorNames.size}`));
    return name;
  };
  const visited = new Set<string>();
  const visit = (key: string): void => {
    const definitionKey = key.split('#')[0]!;
    if (visited.has(definitionKey)) return;
    visited.add(definitionKey);
    const definition = analysis.definitions.get(definitionKey);
    if (!definition) throw new Error(`no definition for static tensor ${key}`);
    if (definition.kind === 'initializer') initializers.push({ ...definition.tensor, name: nameOf(key) });
    if (definition.kind !== 'node') return;
    definition.inputKeys.forEach((inputKey) => inputKey && visit(inputKey));
    const { node, nodeKey, inputKeys } = definition;
    nodes.push({
      ...node,
      name: `${node.name ?? node.opType}/projection_${nodes.length}`,
      input: inputKeys.map((inputKey) => (inputKey === '' ? '' : nameOf(inputKey))),
      output: (node.output ?? []).map((name, i) => (name === '' ? '' : nameOf(`${nodeKey}#${i}`))),
    });
  };
  for (const key of analysis.hoisted.keys()) visit(key);
  return {
    irVersion: model.irVersion,
    opsetImport: model.opsetImport,
    producerName: `${model.producerName ?? ''} (encoder projections)`.trim(),
    graph: {
      name: 'encoder_projections',
      input: [encoderInput],
      initializer: initializers,
      node: nodes,
      output: [...analysis.hoisted.values()].map(({ name, elemType }) => ({ name, type: { tensorType: { elemType } } })),
    },
  };
}

function subgraphsOf(node: Node): Graph[] {
  return (node.attribute ?? []).flatMap((a) => (a.type === AttributeType.GRAPH && a.g ? [a.g] : a.type === AttributeType.GRAPHS ? (a.graphs ?? []) : []));
}

function allGraphs(graph: Graph): Graph[] {
  return [graph, ...(graph.node ?? []).flatMap((node) => subgraphsOf(node).flatMap(allGraphs))];
}

/** Every name a node's nested graphs read (their own definitions included: harmless here). */
function namesReadBySubgraphs(node: Node): string[] {
  return subgraphsOf(node).flatMap((g) => allGraphs(g).flatMap((inner) => [...(inner.node ?? []).flatMap((n) => n.input ?? []), ...(inner.output ?? []).map((o) => o.name!)]));
}

/**
 * A node's output element types from its inputs' (enough for the ops a projection passes
 * through; a wrong guess makes onnxruntime refuse the split decoder, which then loads whole).
 */
function outputTypes(node: Node, inputs: (number | undefined)[]): (number | undefined)[] {
  const attribute = (name: string) => node.attribute?.find((a) => a.name === name);
  switch (node.opType) {
    case 'Cast':
      return [Number(attribute('to')?.i)];
    case 'Shape':
    case 'Size':
      return [DataType.INT64];
    case 'MatMulInteger':
    case 'ConvInteger':
      return [DataType.INT32];
    case 'DynamicQuantizeLinear':
      return [DataType.UINT8, DataType.FLOAT, DataType.UINT8];
    case 'DequantizeLinear':
      return [inputs[1]];
    case 'QuantizeLinear':
      return [inputs[2] ?? DataType.UINT8];
    case 'Constant':
      return [attribute('value')?.t?.dataType ?? undefined];
    case 'Equal':
    case 'Greater':
    case 'GreaterOrEqual':
    case 'Less':
    case 'LessOrEqual':
    case 'Not':
    case 'And':
    case 'Or':
    case 'Xor':
    case 'IsNaN':
    case 'IsInf':
      return [DataType.BOOL];
    case 'ArgMax':
    case 'ArgMin':
    case 'NonZero':
      return [DataType.INT64];
    case 'TopK':
      return [inputs[0], DataType.INT64];
    default:
      return (node.output ?? []).map(() => inputs.find((type) => type !== undefined));
  }
}

function attributesHash(node: Node): string {
  if (!node.attribute?.length) return '';
  const bytes = node.attribute.map((a) => onnx.AttributeProto.encode(a).finish());
  return hash(Buffer.concat(bytes));
}

function hash(value: string | Uint8Array): string {
  return createHash('sha1').update(value).digest('hex').slice(0, 20);
}

/** A copy of the graph structure (nodes, lists) sharing the weights' bytes with the original. */
function structuredCloneModel(model: Model): Model {
  const cloneGraph = (graph: Graph): Graph => ({
    ...graph,
    input: [...(graph.input ?? [])],
    output: [...(graph.output ?? [])],
    initializer: [...(graph.initializer ?? [])],
    valueInfo: [...(graph.valueInfo ?? [])],
    node: (graph.node ?? []).map((node) => ({
      ...node,
      input: [...(node.input ?? [])],
      output: [...(node.output ?? [])],
      attribute: (node.attribute ?? []).map((a) => ({ ...a, ...(a.g && { g: cloneGraph(a.g) }), ...(a.graphs && { graphs: a.graphs.map(cloneGraph) }) })),
    })),
  });
  return { ...model, graph: cloneGraph(model.graph!) };
}

/** The split of an ONNX file, serialised for `InferenceSession.create(bytes)`; undefined as above. */
export async function hoistEncoderProjectionsOfFile(file: string, encoderInput: string): Promise<{ decoder: Uint8Array; projections: Uint8Array; names: string[] } | undefined> {
  const split = hoistEncoderProjections(onnx.ModelProto.decode(await readFile(file)), encoderInput);
  if (!split) return undefined;
  return { decoder: onnx.ModelProto.encode(split.decoder).finish(), projections: onnx.ModelProto.encode(split.projections).finish(), names: split.names };
}
