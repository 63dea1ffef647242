import type { ModelContract } from '../contract.js';

/** ViTForImageClassification as exported by Optimum / used by transformers.js (MODEL_CONTRACTS.md). */
export const VIT_CONTRACT: ModelContract = {
  family: 'vit',
  inputs: [{ name: 'pixel_values', type: 'float32', dims: ['batch_size', 3, 'height', 'width'] }],
  outputs: [{ name: 'logits', type: 'float32', dims: ['batch_size', 'num_labels'] }],
};
