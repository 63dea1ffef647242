/**
 * Loads a CLIP model from a Hugging Face ONNX folder for zero-shot classification and embeddings:
 * the two towers (`onnx/text_model.onnx`, `onnx/vision_model.onnx`) as two sessions in each
 * worker, checked against their contracts, plus the tokenizer and the image processor settings.
 * The towers give unnormalised embeddings and no logit scale: the pipeline normalises, and the
 * trained scale comes from the catalog or the model's `logit_scale` setting.
 */
import { readAttentionGraph, type AttentionGraph } from '../attention/attention-graph.js';
import { checkContract } from '../contract.js';
import { createFamilyPool, type FamilyLoadOptions } from '../family-load-options.js';
import { loadFolderImageProcessor, onnxFile, readJsonFile } from '../hf-folder.js';
import type { ImageProcessorSettings } from '../image/index.js';
import type { WorkerPool } from '../session/worker-pool.js';
import { parseClipConfig } from './clip-config.js';
import { CLIP_TEXT_CONTRACT, CLIP_VISION_CONTRACT } from './clip-contract.js';
import { loadClipTokenizer, type ClipTokenizer } from './clip-tokenizer.js';

/** The pool's sessions: the towers, named as their files. */
export const CLIP_TEXT_SESSION = 'text_model';
export const CLIP_VISION_SESSION = 'vision_model';


export interface ClipModel {
  tokenizer: ClipTokenizer;
  image: ImageProcessorSettings;
  /** One image's pixel_values shape: [3, height, width]. */
  imageDims: [number, number, number];
  projectionDim: number;
  randomWeights: boolean;
  /** Whether the text tower takes `attention_mask` (the Xenova export does not). */
  textTakesAttentionMask: boolean;
  /** The vision tower's attention taps and per-token embeddings (added at load), or why not. */
  visionAttention: AttentionGraph;
  visionPatchSize: number | undefined;
  pool: WorkerPool;
}

export async function loadClipModel(options: FamilyLoadOptions): Promise<ClipModel> {
  const { dir } = options;
  const config = parseClipConfig(await readJsonFile(dir, 'config.json'), `${dir}/config.json`);
  const { image, itemDims } = await loadFolderImageProcessor(dir, false);
  const tokenizer = await loadClipTokenizer(dir, config.maxTextTokens);
  const visionFile = onnxFile(dir, CLIP_VISION_SESSION, options.variant);
  const visionAttention = await readAttentionGraph(visionFile, `model ${dir} (${CLIP_VISION_SESSION})`, {
    expectedLayers: config.visionLayers,
    embedsOutput: 'image_embeds',
  });
  const pool = await createFamilyPool(
    options,
    { [CLIP_TEXT_SESSION]: onnxFile(dir, CLIP_TEXT_SESSION, options.variant), [CLIP_VISION_SESSION]: visionFile },
    { graphAdditions: { [CLIP_VISION_SESSION]: visionAttention.additions } },
  );
  try {
    const text = pool.session(CLIP_TEXT_SESSION);
    const vision = pool.session(CLIP_VISION_SESSION);
    checkContract(CLIP_TEXT_CONTRACT, text, `model ${dir} (${CLIP_TEXT_SESSION})`);
    checkContract(CLIP_VISION_CONTRACT, vision, `model ${dir} (${CLIP_VISION_SESSION})`);
    for (const [tower, info] of [['text_embeds', text], ['image_embeds', vision]] as const) {
      const dim = info.outputs.find((o) => o.name === tower)?.shape[1];
      if (typeof dim === 'number' && dim !== config.projectionDim) {
        throw new Error(`model ${dir}: ${tower} has ${dim} dimensions but config.json says projection_dim ${config.projectionDim}`);
      }
    }
    return {
      tokenizer,
      image,
      imageDims: itemDims,
      projectionDim: config.projectionDim,
      randomWeights: config.randomWeights,
      textTakesAttentionMask: text.inputs.some((i) => i.name === 'attention_mask'),
      visionAttention,
      visionPatchSize: config.visionPatchSize,
      pool,
    };
  } catch (error) {
    await pool.close();
    throw error;
  }
}
