/**
 * Reads an ONNX model's graph structure (nodes with their attributes, graph inputs and outputs,
 * the default opset, the initializers' names) without decoding the weights: the protobuf is
 * walked field by field and the initializers' data skipped, so the walk over ViT-B/16's 346 MB
 * takes milliseconds (reading the file is most of the ~0.5 s). Graph edits are decided on this.
 *
 *   const summary = readGraphSummary(await readFile('onnx/model.onnx'));
 *   summary.nodes.filter((n) => n.opType === 'Softmax').map((n) => n.outputs[0]);
 */
import onnxProto from 'onnx-proto';
import protobuf from 'protobufjs/minimal.js';

const { onnx } = onnxProto;

/** One node, as much as graph edits need. */
export interface NodeSummary {
  name: string;
  opType: string;
  /** '' for the default ONNX domain, e.g. 'com.microsoft' for onnxruntime's contrib ops. */
  domain: string;
  inputs: string[];
  outputs: string[];
  attributes: onnxProto.onnx.IAttributeProto[];
}

export interface GraphSummary {
  /** In graph order (ONNX requires a topological order). */
  nodes: NodeSummary[];
  inputs: string[];
  outputs: string[];
  /** The weights' names (their data is never read). */
  initializers: Set<string>;
  /** The default ONNX domain's opset version (how ops added to the graph must be written). */
  opset: number;
}

/** What to add to a graph: nodes (after the existing ones) and outputs. */
export interface GraphAdditions {
  nodes?: onnxProto.onnx.INodeProto[];
  outputs: readonly string[];
}

/** Field numbers from onnx.proto. */
const MODEL_GRAPH = 7;
const MODEL_OPSET_IMPORT = 8;
const GRAPH_NODE = 1;
const GRAPH_INITIALIZER = 5;
const TENSOR_NAME = 8;
const GRAPH_INPUT = 11;
const GRAPH_OUTPUT = 12;
const LENGTH_DELIMITED = 2;

/**
 * Summarises the main graph of a serialised `ModelProto`. Several `graph` fields (which protobuf
 * merges, e.g. after outputs were appended) are read as one graph.
 */
export function readGraphSummary(bytes: Uint8Array): GraphSummary {
  const summary: GraphSummary = { nodes: [], inputs: [], outputs: [], initializers: new Set(), opset: 0 };
  const reader = protobuf.Reader.create(bytes);
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    if (tag >>> 3 === MODEL_GRAPH && (tag & 7) === LENGTH_DELIMITED) {
      const length = reader.uint32();
      readGraph(reader, reader.pos + length, summary);
    } else if (tag >>> 3 === MODEL_OPSET_IMPORT && (tag & 7) === LENGTH_DELIMITED) {
      const opset = onnx.OperatorSetIdProto.decode(reader, reader.uint32());
      if (!opset.domain) summary.opset = Number(opset.version);
    } else {
      reader.skipType(tag & 7);
    }
  }
  return summary;
}

function readGraph(reader: protobuf.Reader, end: number, summary: GraphSummary): void {
  while (reader.pos < end) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if ((tag & 7) !== LENGTH_DELIMITED || ![GRAPH_NODE, GRAPH_INITIALIZER, GRAPH_INPUT, GRAPH_OUTPUT].includes(field)) {
      reader.skipType(tag & 7);
      continue;
    }
    const length = reader.uint32();
    if (field === GRAPH_INITIALIZER) {
      summary.initializers.add(readTensorName(reader, reader.pos + length));
    } else if (field === GRAPH_NODE) {
      const node = onnx.NodeProto.decode(reader, length);
      summary.nodes.push({ name: node.name, opType: node.opType, domain: node.domain, inputs: node.input, outputs: node.output, attributes: node.attribute });
    } else {
      const value = onnx.ValueInfoProto.decode(reader, length);
      (field === GRAPH_INPUT ? summary.inputs : summary.outputs).push(value.name);
    }
  }
}

/** A TensorProto's name, its data skipped (never decoded). */
function readTensorName(reader: protobuf.Reader, end: number): string {
  let name = '';
  while (reader.pos < end) {
    const tag = reader.uint32();
    if (tag >>> 3 === TENSOR_NAME && (tag & 7) === LENGTH_DELIMITED) name = reader.string();
    else reader.skipType(tag & 7);
  }
  return name;
}

/**
 * Bytes that, appended to a serialised `ModelProto`, add nodes and graph outputs: protobuf merges
 * a repeated `graph` field into the first and concatenates its lists, so a 346 MB model gains
 * them without being decoded or re-encoded. The new nodes come after every existing one (they
 * may read any tensor); the outputs carry no type (onnxruntime infers it).
 */
export function graphSuffix(additions: GraphAdditions): Uint8Array {
  return onnx.ModelProto.encode({ graph: { node: additions.nodes ?? [], output: additions.outputs.map((name) => ({ name })) } }).finish();
}
