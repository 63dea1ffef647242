import type { ModelContract } from '../contract.js';

/** The two towers a CLIP export ships for transformers.js (docs/architecture.md, "Model contracts"). */
export const CLIP_TEXT_CONTRACT: ModelContract = {
  family: 'clip',
  inputs: [{ name: 'input_ids', type: 'int64', dims: ['batch_size', 'sequence_length'] }],
  outputs: [{ name: 'text_embeds', type: 'float32', dims: ['batch_size', 'projection_dim'] }],
};

export const CLIP_VISION_CONTRACT: ModelContract = {
  family: 'clip',
  inputs: [{ name: 'pixel_values', type: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
  outputs: [{ name: 'image_embeds', type: 'float32', dims: ['batch_size', 'projection_dim'] }],
};
