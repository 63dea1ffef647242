/**
 * How far apart the modalities are, for an alignment's answer: the distance between the image
 * centroid and the centroid of their labels' text embeddings, the mean cosine of each image to
 * its label, and zero-shot accuracy (argmax cosine over the labels).
 */
import { dot } from '../scores.js';

export interface GapStats {
  centroidDistance: number;
  meanCosine: number;
  accuracy: number;
}

/** `images` L2-normalised, `labelOf[i]` the index of image i's label in `labels` (normalised too). */
export function gapStats(images: readonly Float32Array[], labelOf: readonly number[], labels: readonly Float32Array[]): GapStats {
  const dim = images[0]?.length ?? 0;
  const imageCentroid = new Float64Array(dim);
  const textCentroid = new Float64Array(dim);
  let cosine = 0;
  let correct = 0;
  images.forEach((image, i) => {
    const target = labels[labelOf[i]!]!;
    for (let d = 0; d < dim; d++) {
      imageCentroid[d]! += image[d]! / images.length;
      textCentroid[d]! += target[d]! / images.length;
    }
    cosine += dot(image, target);
    let best = 0;
    labels.forEach((label, j) => {
      if (dot(image, label) > dot(image, labels[best]!)) best = j;
    });
    if (best === labelOf[i]) correct++;
  });
  let distance = 0;
  for (let d = 0; d < dim; d++) distance += (imageCentroid[d]! - textCentroid[d]!) ** 2;
  return { centroidDistance: Math.sqrt(distance), meanCosine: cosine / images.length, accuracy: correct / images.length };
}
