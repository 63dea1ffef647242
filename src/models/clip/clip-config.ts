import { z } from 'zod';

/** The parts of a CLIP config.json the server uses; other keys are ignored. */
const clipConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  projection_dim: z.number().int().min(1),
  text_config: z.looseObject({ max_position_embeddings: z.number().int().min(2).optional() }).optional(),
  vision_config: z
    .looseObject({ num_hidden_layers: z.number().int().min(1).optional(), patch_size: z.number().int().min(1).optional() })
    .optional(),
  _generated: z.looseObject({ random_weights: z.boolean() }).optional(),
});

export interface ClipConfig {
  projectionDim: number;
  /** The text tower's positions: prompts longer than this (in tokens) are truncated. */
  maxTextTokens: number;
  randomWeights: boolean;
  /** The vision tower's layers and patch size, when config.json says (attention maps). */
  visionLayers?: number;
  visionPatchSize?: number;
}

export function parseClipConfig(raw: unknown, source: string): ClipConfig {
  const parsed = clipConfigSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${source}: ${z.prettifyError(parsed.error)}`);
  const config = parsed.data;
  return {
    projectionDim: config.projection_dim,
    maxTextTokens: config.text_config?.max_position_embeddings ?? 77,
    randomWeights: config._generated?.random_weights ?? false,
    visionLayers: config.vision_config?.num_hidden_layers,
    visionPatchSize: config.vision_config?.patch_size,
  };
}
