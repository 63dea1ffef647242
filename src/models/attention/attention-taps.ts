/**
 * Finds, in a vision transformer's ONNX graph, the tensors attention maps are read from: each
 * encoder layer's attention probabilities (the output of its Softmax, [batch, heads, tokens,
 * tokens]) and, where it can be identified, the hidden states leaving the layer ([batch, tokens,
 * hidden]). Standard exports do not output them; the loader adds them as graph outputs
 * (docs/architecture.md, "Attention maps").
 *
 * Layers are recognised by the scoped node names PyTorch's exporter writes (`/vit/encoder/layer.3/
 * attention/attention/Softmax`, `/vision_model/encoder/layers.3/self_attn/Softmax`,
 * `/blocks.3/Softmax`): the outermost path segment `name.N` is layer N. A layer's output is the
 * last tensor its scope produces for a node outside it (the residual stream going on).
 */
import type { GraphSummary, NodeSummary } from '../onnx/graph-summary.js';

export interface AttentionTaps {
  /** Per encoder layer, first to last: the tensor holding its attention probabilities. */
  attention: string[];
  /** Per encoder layer: the hidden states it outputs, or undefined where they could not be told apart. */
  hiddenStates: (string | undefined)[];
  /** Per encoder layer: its attention averaged over the heads ([batch, tokens, tokens]), when added to the graph. */
  headMeans?: string[];
}

/** Ops onnxruntime and exporters use for a fused attention block (no Softmax to read). */
const FUSED_ATTENTION_OPS = new Set(['Attention', 'MultiHeadAttention', 'PackedAttention', 'PackedMultiHeadAttention', 'GroupQueryAttention']);

/** Thrown when a graph's attention cannot be read; the message says why and how to export it. */
export class AttentionUnavailableError extends Error {
  override readonly name = 'AttentionUnavailableError';
}

const LAYER_SEGMENT = /^[A-Za-z_][\w]*\.(\d+)$/;

/** The scope (`/vit/encoder/layer.3/`) and index of the layer a node belongs to, from its name. */
function layerScope(nodeName: string): { scope: string; index: number } | undefined {
  const segments = nodeName.split('/');
  for (let i = 0; i < segments.length - 1; i++) {
    const match = LAYER_SEGMENT.exec(segments[i]!);
    if (match) return { scope: `${segments.slice(0, i + 1).join('/')}/`, index: Number(match[1]) };
  }
  return undefined;
}

/**
 * The attention taps of a graph. `expectedLayers` (config.json's `num_hidden_layers`, when it has
 * one) must match the Softmax count. Throws `AttentionUnavailableError` naming the model.
 */
export function findAttentionTaps(graph: GraphSummary, modelLabel: string, expectedLayers?: number): AttentionTaps {
  const softmaxes = graph.nodes.filter((node) => node.opType === 'Softmax' && node.domain === '');
  if (softmaxes.length === 0) {
    const fused = graph.nodes.find((node) => FUSED_ATTENTION_OPS.has(node.opType));
    throw new AttentionUnavailableError(
      fused
        ? `${modelLabel}: its attention is fused (${fused.opType} nodes, no Softmax per layer), so attention maps cannot be read from it. ` +
            'Export it unfused: optimum-cli export onnx without --optimize (or an ONNX Runtime optimisation level of 1 at most), ' +
            'or torch.onnx.export of the model loaded with attn_implementation="eager".'
        : `${modelLabel}: no Softmax in the graph, so it has no attention probabilities to read.`,
    );
  }
  if (expectedLayers !== undefined && softmaxes.length !== expectedLayers) {
    throw new AttentionUnavailableError(
      `${modelLabel}: found ${softmaxes.length} Softmax nodes but config.json says ${expectedLayers} layers: cannot tell which ones are the attention`,
    );
  }
  const scopes = softmaxes.map((node) => layerScope(node.name));
  const scoped = scopes.every((s) => s !== undefined) && new Set(scopes.map((s) => s!.scope)).size === scopes.length;
  if (!scoped) {
    // Anonymous node names: one Softmax per layer in graph order, hidden states unknown.
    return { attention: softmaxes.map(firstOutput), hiddenStates: softmaxes.map(() => undefined) };
  }
  const layers = softmaxes
    .map((node, i) => ({ node, ...scopes[i]! }))
    .sort((a, b) => a.index - b.index);
  const consumers = consumersByTensor(graph);
  return {
    attention: layers.map((layer) => firstOutput(layer.node)),
    hiddenStates: layers.map((layer) => layerOutput(graph, layer.scope, consumers)),
  };
}

function firstOutput(node: NodeSummary): string {
  const output = node.outputs[0];
  if (!output) throw new AttentionUnavailableError(`Softmax node '${node.name}' has no output`);
  return output;
}

/** Tensor name → the names of the nodes that read it; graph outputs are read by ''. */
function consumersByTensor(graph: GraphSummary): Map<string, string[]> {
  const consumers = new Map<string, string[]>();
  const add = (tensor: string, reader: string) => {
    const list = consumers.get(tensor);
    if (list) list.push(reader);
    else consumers.set(tensor, [reader]);
  };
  for (const node of graph.nodes) for (const input of node.inputs) if (input) add(input, node.name);
  for (const output of graph.outputs) add(output, '');
  return consumers;
}

/** The last tensor produced inside `scope` that a node outside it reads. */
function layerOutput(graph: GraphSummary, scope: string, consumers: Map<string, string[]>): string | undefined {
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const node = graph.nodes[i]!;
    if (!node.name.startsWith(scope)) continue;
    const leaving = node.outputs.find((tensor) => consumers.get(tensor)?.some((reader) => !reader.startsWith(scope)));
    if (leaving) return leaving;
  }
  return undefined;
}
