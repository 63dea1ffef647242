/**
 * Every token's embedding in the joint image-text space, by graph surgery: a CLIP vision tower
 * pools the CLS token (a Gather on the token axis of the last hidden states), then applies its
 * final norm and projection to get `image_embeds`. Those are per-token operations, so the nodes
 * between the Gather and `image_embeds` are copied, fed the hidden states of every token instead
 * of the pooled one, and give `[batch, tokens, projection]`: each patch's embedding, comparable
 * with the text embeddings (label localisation).
 */
import type onnxProto from 'onnx-proto';
import type { GraphSummary, NodeSummary } from '../onnx/graph-summary.js';
import { AttentionUnavailableError } from './attention-taps.js';

/** The added output: every token's projected embedding. */
export const PATCH_EMBEDS = 'patch_embeds';
const COPY_SUFFIX = '/patch_embeds';

export interface PatchProjection {
  nodes: onnxProto.onnx.INodeProto[];
  output: string;
}

/** The data path feeding `tensor`: producers of inputs that are neither weights nor constants. */
function producersOf(graph: GraphSummary): Map<string, NodeSummary> {
  const producers = new Map<string, NodeSummary>();
  for (const node of graph.nodes) for (const output of node.outputs) producers.set(output, node);
  return producers;
}

function gatherAxis(node: NodeSummary): number {
  const axis = node.attributes.find((a) => a.name === 'axis')?.i;
  return axis === undefined || axis === null ? 0 : Number(axis);
}

/**
 * The nodes that apply the pooled token's head (norm, projection) to every token, ending in
 * `patch_embeds`. Throws `AttentionUnavailableError` when the pooling cannot be found.
 */
export function findPatchProjection(graph: GraphSummary, embedsOutput: string, modelLabel: string): PatchProjection {
  const producers = producersOf(graph);
  const isData = (tensor: string) => tensor !== '' && !graph.initializers.has(tensor) && producers.get(tensor)?.opType !== 'Constant' && producers.has(tensor);
  // Walk back from the embedding to the Gather that picks the CLS token on the token axis.
  const seen = new Set<NodeSummary>();
  const queue = [producers.get(embedsOutput)];
  let pool: NodeSummary | undefined;
  while (queue.length > 0 && !pool) {
    const node = queue.shift();
    if (!node || seen.has(node)) continue;
    seen.add(node);
    if (node.opType === 'Gather' && gatherAxis(node) === 1) pool = node;
    else for (const input of node.inputs) if (isData(input)) queue.push(producers.get(input));
  }
  if (!pool) throw new AttentionUnavailableError(`${modelLabel}: no CLS pooling (Gather on the token axis) found before '${embedsOutput}', so patch embeddings cannot be made`);
  const pooled = pool.outputs[0]!;
  const hidden = pool.inputs[0]!;

  // The nodes on the way from the pooled token to the embedding, in graph order.
  const fromPool = new Set([pooled]);
  const onPath: NodeSummary[] = [];
  for (const node of graph.nodes) {
    if (node.inputs.some((input) => fromPool.has(input))) {
      onPath.push(node);
      for (const output of node.outputs) fromPool.add(output);
    }
  }
  const renamed = (tensor: string) => (tensor === pooled ? hidden : fromPool.has(tensor) ? `${tensor}${COPY_SUFFIX}` : tensor);
  const nodes = onPath.map((node) => ({
    name: `${node.name}${COPY_SUFFIX}`,
    opType: node.opType,
    domain: node.domain,
    input: node.inputs.map(renamed),
    output: node.outputs.map((output) => (output === embedsOutput ? PATCH_EMBEDS : renamed(output))),
    attribute: node.attributes,
  }));
  if (!nodes.some((node) => node.output.includes(PATCH_EMBEDS))) {
    throw new AttentionUnavailableError(`${modelLabel}: '${embedsOutput}' does not follow from the pooled token`);
  }
  return { nodes, output: PATCH_EMBEDS };
}
