/**
 * The prompt strategies of the CLIP literature: what text each label is embedded as. A label's
 * embedding is the normalised mean of its prompts' normalised embeddings (one prompt: itself).
 */
import { ApiError } from '../errors.js';

export type PromptStrategy = 'plain' | 'template' | 'descriptive' | 'ensemble';

export const DEFAULT_TEMPLATE = 'a photo of a {label}.';

/**
 * The built-in ensemble, written for this server in the spirit of CLIP's ImageNet prompt set:
 * photographs of different quality and framing, and a few other renderings.
 */
export const ENSEMBLE_TEMPLATES: readonly string[] = [
  'a photo of a {label}.',
  'a photo of the {label}.',
  'a close-up photo of a {label}.',
  'a cropped photo of a {label}.',
  'a blurry photo of a {label}.',
  'a bright photo of a {label}.',
  'a dark photo of a {label}.',
  'a good photo of a {label}.',
  'a photo of a small {label}.',
  'a photo of a large {label}.',
  'a black and white photo of a {label}.',
  'a painting of a {label}.',
  'a sketch of a {label}.',
  'a rendering of a {label}.',
  'a toy {label}.',
  'art of the {label}.',
];

export interface PromptRequest {
  labels: readonly string[];
  strategy: PromptStrategy;
  template?: string | undefined;
  templates?: readonly string[] | undefined;
  descriptions?: Readonly<Record<string, readonly string[]>> | undefined;
}

/**
 * Longest prompt kept, in characters: the text tower reads at most 77 tokens, which no text needs
 * 1,000 characters for, so a longer one is cut before it is tokenized (and flagged as truncated).
 */
export const MAX_PROMPT_CHARS = 1000;

const fill = (template: string, label: string) => template.replaceAll('{label}', label).slice(0, MAX_PROMPT_CHARS);

/** How many prompts a request makes, counted before any is built (a request can ask for millions). */
export function promptCount(request: PromptRequest): number {
  switch (request.strategy) {
    case 'plain':
    case 'template':
      return request.labels.length;
    case 'ensemble':
      return request.labels.length * (request.templates ?? ENSEMBLE_TEMPLATES).length;
    case 'descriptive':
      return request.labels.reduce((total, label) => total + descriptionsOf(request, label).length, 0);
  }
}

/** A label's own descriptions (never an inherited property: a label may be called 'constructor'). */
function descriptionsOf(request: PromptRequest, label: string): readonly string[] {
  const all = request.descriptions;
  const descriptions = all && Object.hasOwn(all, label) ? all[label] : undefined;
  if (!Array.isArray(descriptions) || descriptions.length === 0) {
    throw new ApiError('invalid_request', `strategy 'descriptive' needs descriptions for every label; none for '${label}'`);
  }
  return descriptions;
}

/** The prompts of each label, in label order. Throws `invalid_request` for what a strategy lacks. */
export function promptsFor(request: PromptRequest): string[][] {
  const { labels, strategy } = request;
  switch (strategy) {
    case 'plain':
      return labels.map((label) => [label]);
    case 'template': {
      const template = request.template ?? DEFAULT_TEMPLATE;
      return labels.map((label) => [fill(template, label)]);
    }
    case 'ensemble': {
      const templates = request.templates ?? ENSEMBLE_TEMPLATES;
      return labels.map((label) => templates.map((template) => fill(template, label)));
    }
    case 'descriptive':
      return labels.map((label) => descriptionsOf(request, label).map((text) => text.slice(0, MAX_PROMPT_CHARS)));
  }
}

/** x / ‖x‖ (a zero vector stays zero). Plain loops: this runs per label per request, and typed arrays' `map` is several times slower. */
export function normalise(vector: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < vector.length; i++) sum += vector[i]! * vector[i]!;
  const norm = Math.sqrt(sum);
  if (!(norm > 0)) return vector.slice();
  const unit = new Float32Array(vector.length);
  for (let i = 0; i < vector.length; i++) unit[i] = vector[i]! / norm;
  return unit;
}

/** normalise(mean(normalise(v) for v in vectors)): one embedding for a label's prompts. */
export function meanOfNormalised(vectors: readonly Float32Array[]): Float32Array {
  const dim = vectors[0]?.length ?? 0;
  const sum = new Float32Array(dim);
  for (const vector of vectors) {
    const unit = normalise(vector);
    for (let i = 0; i < dim; i++) sum[i]! += unit[i]!;
  }
  return normalise(sum);
}
