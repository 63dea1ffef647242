import { z } from 'zod';

/** The parts of a ViT config.json the server uses; other keys are ignored. */
const vitConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  id2label: z.record(z.string(), z.string()).optional(),
  num_labels: z.number().int().min(1).optional(),
  num_hidden_layers: z.number().int().min(1).optional(),
  patch_size: z.number().int().min(1).optional(),
  /** Written by our test-model generator: the answers come from random weights. */
  _generated: z.looseObject({ random_weights: z.boolean() }).optional(),
});

export interface VitConfig {
  labels: string[];
  randomWeights: boolean;
  /** Encoder layers, when config.json says (it checks the attention maps' Softmax count). */
  numLayers?: number;
  patchSize?: number;
}

/** Labels in index order from id2label (HF's default names LABEL_i where it is absent). */
export function parseVitConfig(raw: unknown, source: string): VitConfig {
  const parsed = vitConfigSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${source}: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  const id2label = config.id2label ?? {};
  const count = Math.max(config.num_labels ?? 0, Object.keys(id2label).length);
  if (count === 0) throw new Error(`${source} has neither id2label nor num_labels: cannot name the classes`);
  const labels = Array.from({ length: count }, (_, index) => id2label[String(index)] ?? `LABEL_${index}`);
  return { labels, randomWeights: config._generated?.random_weights ?? false, numLayers: config.num_hidden_layers, patchSize: config.patch_size };
}
