/**
 * Fitting, listing and removing zero-shot alignments (the modality-gap map), for both
 * transports. A fit embeds the examples' images (or takes their embeddings) and their labels'
 * prompts with the model, keeps a seeded held-out share apart if asked, fits the Procrustes map
 * off the event loop, measures the gap before and after, and stores the result.
 */
import { ApiError } from '../../errors.js';
import { SeededRandom } from '../../models/generator/seeded-random.js';
import { gapStats } from '../../pipelines/alignment/gap.js';
import { applyAlignment } from '../../pipelines/alignment/procrustes.js';
import { normalise } from '../../pipelines/zero-shot-prompts.js';
import type { AlignmentRecord, AlignmentStore } from '../alignment-store.js';
import { alignmentFitSchema, imageBytesFromString, parseRequest } from '../schemas.js';
import { alignmentResponse } from '../wire.js';
import { callOptions, promptFieldsFromMessage, type TaskService } from './task-service.js';
import { alignmentAnswer } from '../answer-schemas.js';
import { EXAMPLE_IMAGE } from '../openapi/example-image.js';

/** Indices 0..n-1 in a seeded random order. */
function shuffled(n: number, seed: number): number[] {
  const rng = new SeededRandom(seed);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** A multipart form's `images` files and `labels` fields (one per file, in order) as examples. */
function examplesFromForm(raw: unknown): unknown {
  if (!raw || typeof raw !== 'object' || !('images' in raw) || 'examples' in raw) return raw;
  const { images, labels, ...rest } = raw as { images: unknown; labels?: unknown };
  // Only uploaded files are a list; any other `images` (JSON, a text field) is left to the strict schema, which names it.
  if (!Array.isArray(images)) return raw;
  const names = Array.isArray(labels) ? labels : labels === undefined ? [] : [labels];
  if (names.length !== images.length) {
    throw new ApiError('invalid_request', `${images.length} image files but ${names.length} labels fields: give one label per image, in order`);
  }
  return { ...rest, examples: images.map((image, i) => ({ image, label: names[i] })) };
}

async function fitAlignment(deps: Parameters<TaskService['run']>[0], raw: unknown, call: Parameters<TaskService['run']>[2]) {
  const request = parseRequest(alignmentFitSchema, examplesFromForm(raw));
  call.labels = deps.registry.metricLabels(request.model ?? deps.registry.defaultModelId('zero-shot-image-classification'));
  const model = deps.registry.resolve('zero-shot-image-classification', request.model);
  const clip = model.loaded.handler;
  const options = callOptions(call, request.timeout_ms);

  const labels = [...new Set(request.examples.map((e) => e.label))];
  if (labels.length < 2) throw new ApiError('invalid_request', 'the examples need at least two different labels');
  const texts = await clip.labelEmbeddings({ ...request, labels, maxPrompts: deps.maxPrompts }, options);
  const dim = texts.vectors[0]!.length;
  const images = await Promise.all(
    request.examples.map(async (example, i) => {
      if (example.embedding) {
        if (example.embedding.length !== dim) {
          throw new ApiError('invalid_request', `examples.${i}.embedding has ${example.embedding.length} dimensions; model '${model.id}' embeds in ${dim}`);
        }
        return normalise(Float32Array.from(example.embedding));
      }
      const bytes = typeof example.image === 'string' ? imageBytesFromString(example.image, deps.imageBytesLimit) : example.image!;
      return (await clip.embedImage(bytes, options)).vector;
    }),
  );
  const labelOf = request.examples.map((e) => labels.indexOf(e.label));
  const order = shuffled(images.length, request.seed);
  const heldCount = Math.floor(images.length * request.holdout);
  const held = order.slice(0, heldCount);
  const fit = order.slice(heldCount);

  const map = await deps.fitter.fit({ x: fit.map((i) => images[i]!), y: fit.map((i) => texts.vectors[labelOf[i]!]!) });
  const stats = (subset: number[]) => {
    const x = subset.map((i) => images[i]!);
    const of = subset.map((i) => labelOf[i]!);
    return { before: gapStats(x, of, texts.vectors), after: gapStats(x.map((v) => applyAlignment(map, v)), of, texts.vectors) };
  };
  const warnings =
    fit.length < dim
      ? [`${fit.length} examples fit a ${dim}-dimensional map: W is underdetermined (it rotates only the ${fit.length}-dimensional span of the examples); ${dim} or more examples would determine it`]
      : [];
  const record: AlignmentRecord = {
    name: request.name,
    model: model.id,
    dim,
    strategy: request.strategy,
    labels,
    examples: fit.length,
    created: new Date().toISOString(),
    stats: { fit: stats(fit), ...(heldCount > 0 ? { heldOut: { examples: heldCount, ...stats(held) } } : {}) },
    warnings,
    map,
  };
  await deps.alignments.save(record);
  return alignmentResponse(record);
}

/** The map of a stored alignment, checked against the model a zero-shot request runs on. */
export function alignmentFor(store: AlignmentStore, name: string, modelId: string, dim: number): (x: Float32Array) => Float32Array {
  const record = store.get(name);
  if (record.model !== modelId) {
    throw new ApiError('invalid_request', `alignment '${name}' was fitted for model '${record.model}', not '${modelId}'`);
  }
  if (record.dim !== dim) throw new ApiError('invalid_request', `alignment '${name}' maps ${record.dim} dimensions; model '${modelId}' embeds in ${dim}`);
  return (x) => applyAlignment(record.map, x);
}

export type AlignmentAnswer = ReturnType<typeof alignmentResponse>;

/** `POST /v1/zero-shot/alignments` and gRPC `FitAlignment`: fit and store. */
export const alignmentFitService: TaskService<AlignmentAnswer> = {
  task: 'zero-shot-image-classification',
  access: 'alignments',
  name: 'alignment-fit',
  schema: alignmentFitSchema,
  run: fitAlignment,
  // 10,000 examples of 512 floats: 5 M values (the 32 MiB body limit bounds it first).
  // Multipart: `image` files and one `labels` field per file, in order.
  http: {
    path: '/v1/zero-shot/alignments',
    body: 'form',
    maxJsonValues: 6_000_000,
    multipart: { files: 1000, fields: 1100 },
    example: { name: 'example', examples: [{ image: EXAMPLE_IMAGE, label: 'orange' }, { image: EXAMPLE_IMAGE, label: 'square' }] },
    answerSchema: alignmentAnswer,
  },
  grpc: {
    method: 'FitAlignment',
    // proto3: empty image bytes / embedding / templates / descriptions mean absent.
    request: ({ examples, templates, descriptions, ...rest }) => {
      return {
        ...rest,
        examples: ((examples as Array<{ image?: Uint8Array; embedding?: number[]; label?: string }> | undefined) ?? []).map((e) => ({
          label: e.label ?? '',
          ...(e.image && e.image.length > 0 ? { image: e.image } : {}),
          ...(e.embedding && e.embedding.length > 0 ? { embedding: e.embedding } : {}),
        })),
        ...promptFieldsFromMessage(templates, descriptions),
      };
    },
  },
};
