/**
 * Image classification: image bytes -> preprocessing -> the model's batcher -> softmax top-k.
 *
 * @example
 *   const preprocessor = new PreprocessPool({ limits: { maxPixels: 5e7 } });
 *   const classifier = createImageClassifier({ labels, image, preprocessor, batcher });
 *   const { predictions } = await classifier.classify({ image: await readFile('cat.jpg'), topK: 5 });
 *   // [{ label: 'tabby, tabby cat', score: 0.71, index: 281 }, ...]
 */
import type { ImageProcessorSettings } from '../models/image/index.js';
import type { PreprocessPool } from '../models/image/preprocess-pool.js';
import type { Batcher } from './batcher.js';
import type { EncodedRow } from './batched-encoder.js';
import { softmax, topK } from './scores.js';

export interface ClassifyInput {
  image: Uint8Array;
  topK: number;
}

export interface Prediction {
  label: string;
  score: number;
  index: number;
}

export interface ClassifyTiming {
  preprocessMs: number;
  queueMs: number;
  inferenceMs: number;
  totalMs: number;
  batchSize: number;
}

export interface ClassifyResult {
  predictions: Prediction[];
  timing: ClassifyTiming;
}

export interface CallOptions {
  signal?: AbortSignal;
  /** Absolute deadline in Date.now() milliseconds. */
  deadlineMs?: number;
  /**
   * The caller will not read the image bytes again: they may move to the preprocessing thread
   * (transferred, detached here) instead of being copied. Request handlers set it.
   */
  transferImage?: boolean;
}

export interface ImageClassifier {
  readonly labels: readonly string[];
  classify(input: ClassifyInput, options?: CallOptions): Promise<ClassifyResult>;
}

export interface ImageClassifierDeps {
  labels: readonly string[];
  image: ImageProcessorSettings;
  /** The server's shared preprocessing pool (off the event loop, within the memory budget). */
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle'>;
  batcher: Pick<Batcher<Float32Array, EncodedRow>, 'submit'>;
}

/** Softmax over the logits, the `k` best with their labels (HF's pipeline clamps k to the labels; so do we). */
export function topPredictions(logits: Float32Array, labels: readonly string[], k: number): Prediction[] {
  const probabilities = softmax(logits);
  return topK(probabilities, Math.min(k, labels.length)).map((index) => ({
    label: labels[index] ?? `LABEL_${index}`,
    score: probabilities[index]!,
    index,
  }));
}

export function createImageClassifier(deps: ImageClassifierDeps): ImageClassifier {
  const { labels, image, preprocessor, batcher } = deps;
  return {
    labels,
    async classify(input, options = {}) {
      const started = performance.now();
      const { pixelValues } = await preprocessor.preprocess(input.image, image, options);
      const preprocessMs = performance.now() - started;
      const result = await batcher.submit(pixelValues, options);
      preprocessor.recycle(pixelValues); // the batch copied it and has run
      const predictions = topPredictions(result.row, labels, input.topK);
      const totalMs = performance.now() - started;
      return {
        predictions,
        timing: {
          preprocessMs,
          inferenceMs: result.inferenceMs,
          queueMs: Math.max(0, totalMs - preprocessMs - result.inferenceMs),
          totalMs,
          batchSize: result.batchSize,
        },
      };
    },
  };
}
