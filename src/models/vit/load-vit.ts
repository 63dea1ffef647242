/**
 * Loads a ViT image classifier from a Hugging Face ONNX folder: configs, then one session per
 * worker, checked against the ViT contract.
 */
import { readAttentionGraph } from '../attention/attention-graph.js';
import type { AttentionTaps, AttentionUnavailableError } from '../attention/attention-taps.js';
import { checkContract } from '../contract.js';
import { createFamilyPool, type FamilyLoadOptions } from '../family-load-options.js';
import { loadFolderImageProcessor, onnxFile, readJsonFile } from '../hf-folder.js';
import type { ImageProcessorSettings } from '../image/index.js';
import type { WorkerPool } from '../session/worker-pool.js';
import { parseVitConfig } from './vit-config.js';
import { VIT_CONTRACT } from './vit-contract.js';

/** The pool's one session: the classifier graph `onnx/model.onnx`. */
export const VIT_SESSION = 'model';

export interface VitModel {
  labels: string[];
  randomWeights: boolean;
  image: ImageProcessorSettings;
  /** One item's pixel_values shape: [3, height, width]. */
  itemDims: [number, number, number];
  /** config.json's patch size, when given. */
  patchSize: number | undefined;
  /** Where the attention maps are read (added as graph outputs), or why they cannot be. */
  attention: AttentionTaps | AttentionUnavailableError;
  pool: WorkerPool;
}

export async function loadVitModel(options: FamilyLoadOptions): Promise<VitModel> {
  const { dir } = options;
  const config = parseVitConfig(await readJsonFile(dir, 'config.json'), `${dir}/config.json`);
  const { image, itemDims } = await loadFolderImageProcessor(dir, true);

  const file = onnxFile(dir, 'model', options.variant);
  const { taps: attention, additions } = await readAttentionGraph(file, `model ${dir}`, { expectedLayers: config.numLayers });
  const pool = await createFamilyPool(options, { [VIT_SESSION]: file }, { graphAdditions: { [VIT_SESSION]: additions } });
  try {
    const session = pool.session(VIT_SESSION);
    checkContract(VIT_CONTRACT, session, `model ${dir}`);
    const pixelValues = session.inputs.find((i) => i.name === 'pixel_values')!;
    const [, , height, width] = pixelValues.shape;
    if ((typeof height === 'number' && height !== itemDims[1]) || (typeof width === 'number' && width !== itemDims[2])) {
      throw new Error(
        `model ${dir}: preprocessor_config.json makes ${itemDims[1]}×${itemDims[2]} images but the graph takes ${height}×${width}`,
      );
    }
  } catch (error) {
    await pool.close();
    throw error;
  }
  return { labels: config.labels, randomWeights: config.randomWeights, image, itemDims, patchSize: config.patchSize, attention, pool };
}
