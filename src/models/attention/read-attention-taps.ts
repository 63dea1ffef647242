/**
 * Reads a model file's graph and finds its attention taps, for a loader that serves attention
 * maps when it can and plain runs regardless: an unreadable attention is a value, not a throw.
 */
import { readFile } from 'node:fs/promises';
import { readGraphSummary } from '../onnx/graph-summary.js';
import { AttentionUnavailableError, findAttentionTaps, type AttentionTaps } from './attention-taps.js';

export async function readAttentionTaps(file: string, modelLabel: string, expectedLayers?: number): Promise<AttentionTaps | AttentionUnavailableError> {
  try {
    return findAttentionTaps(readGraphSummary(await readFile(file)), modelLabel, expectedLayers);
  } catch (error) {
    if (error instanceof AttentionUnavailableError) return error;
    throw error;
  }
}

/** The tensors to add as graph outputs for these taps. */
export function tapOutputs(taps: AttentionTaps | AttentionUnavailableError): string[] {
  if (taps instanceof AttentionUnavailableError) return [];
  return [...taps.attention, ...taps.hiddenStates.filter((name): name is string => name !== undefined)];
}
