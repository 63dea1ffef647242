/**
 * Client-side zero-shot scoring, built from the server's own pieces so it cannot drift from it:
 * a label's embedding is `meanOfNormalised` of its prompts (`promptsFor`), each prompt embedded
 * by /v1/embeddings (the same text tower and cache /v1/zero-shot uses); top-1 is the argmax of
 * the cosine (softmax(scale · cosine) is monotone in it), counted by the server's `gapStats`.
 */
import { gapStats, type GapStats } from '../../pipelines/alignment/gap.js';
import { meanOfNormalised, promptsFor } from '../../pipelines/zero-shot-prompts.js';
import type { EvalClient, PromptOptions } from './client.js';

/** /v1/embeddings takes at most 2048 inputs; texts are cheap, so large chunks. */
const TEXT_CHUNK = 512;

/** Each label's embedding under a prompt strategy, as the server computes it for /v1/zero-shot. */
export async function labelEmbeddings(client: EvalClient, model: string, labels: readonly string[], prompts: PromptOptions): Promise<Float32Array[]> {
  const groups = promptsFor({ labels, ...prompts });
  const texts = groups.flat();
  const vectors: Float32Array[] = [];
  for (let i = 0; i < texts.length; i += TEXT_CHUNK) vectors.push(...(await client.embed(model, texts.slice(i, i + TEXT_CHUNK))));
  let next = 0;
  return groups.map((group) => meanOfNormalised(vectors.slice(next, (next += group.length))));
}

/** Accuracy, mean cosine to the label and centroid distance of a subset of the examples. */
export function statsOf(images: readonly Float32Array[], labelOf: readonly number[], subset: readonly number[], labelVectors: readonly Float32Array[]): GapStats {
  return gapStats(
    subset.map((i) => images[i]!),
    subset.map((i) => labelOf[i]!),
    labelVectors,
  );
}

/** The index of the best label (the first on a tie, as the server's top-k). */
export function top1(image: Float32Array, labelVectors: readonly Float32Array[]): number {
  let best = 0;
  let bestScore = -Infinity;
  labelVectors.forEach((label, j) => {
    let score = 0;
    for (let d = 0; d < label.length; d++) score += label[d]! * image[d]!;
    if (score > bestScore) {
      best = j;
      bestScore = score;
    }
  });
  return best;
}
