/**
 * What a loader adds to an image encoder's graph for attention maps (and, for CLIP, label
 * localisation): the attention taps, each token's projected embedding, and the graph additions
 * that expose them. Whatever cannot be read is a value with its reason, not a throw: the model is
 * served for its plain runs regardless.
 */
import { readFile } from 'node:fs/promises';
import { readGraphSummary, type GraphAdditions } from '../onnx/graph-summary.js';
import { AttentionUnavailableError, findAttentionTaps, type AttentionTaps } from './attention-taps.js';
import { headMeanNodes } from './head-means.js';
import { findPatchProjection } from './patch-projection.js';

export interface AttentionGraph {
  taps: AttentionTaps | AttentionUnavailableError;
  /** The output holding every token's embedding (when asked for with `embedsOutput`), or why there is none. */
  patchEmbeds?: string | AttentionUnavailableError;
  additions: GraphAdditions;
}

export interface AttentionGraphOptions {
  /** config.json's layer count, when it has one. */
  expectedLayers?: number;
  /** The pooled embedding output to re-apply per token (CLIP's `image_embeds`). */
  embedsOutput?: string;
}

function unavailable<T>(find: () => T): T | AttentionUnavailableError {
  try {
    return find();
  } catch (error) {
    if (error instanceof AttentionUnavailableError) return error;
    throw error;
  }
}

export async function readAttentionGraph(file: string, modelLabel: string, options: AttentionGraphOptions = {}): Promise<AttentionGraph> {
  const graph = readGraphSummary(await readFile(file));
  const found = unavailable(() => findAttentionTaps(graph, modelLabel, options.expectedLayers));
  const means = found instanceof AttentionUnavailableError ? undefined : headMeanNodes(found.attention, graph.opset);
  const taps = found instanceof AttentionUnavailableError ? found : { ...found, headMeans: means!.outputs };
  const projection = options.embedsOutput === undefined ? undefined : unavailable(() => findPatchProjection(graph, options.embedsOutput!, modelLabel));
  const projected = projection instanceof AttentionUnavailableError ? undefined : projection;
  return {
    taps,
    patchEmbeds: projection instanceof AttentionUnavailableError ? projection : projection?.output,
    additions: {
      nodes: [...(means?.nodes ?? []), ...(projected?.nodes ?? [])],
      outputs: [...tapNames(taps), ...(projected ? [projected.output] : [])],
    },
  };
}

/** Every tensor the taps read (attention, its head means, then the hidden states that were identified). */
export function tapNames(taps: AttentionTaps | AttentionUnavailableError): string[] {
  if (taps instanceof AttentionUnavailableError) return [];
  return [...taps.attention, ...(taps.headMeans ?? []), ...taps.hiddenStates.filter((name): name is string => name !== undefined)];
}
