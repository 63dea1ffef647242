/**
 * The attention component of a served encoder: a batcher of explain runs on the model's own
 * session workers (sharing their instances with its plain runs), warmed up with every tap, and
 * the explainer over it. One run at load measures the attention's heads and tokens. A model whose
 * attention cannot be read gets none (logged with the reason; the model is served regardless).
 */
import { AttentionUnavailableError, type AttentionTaps } from '../../models/attention/attention-taps.js';
import { tapNames } from '../../models/attention/attention-graph.js';
import type { ImageProcessorSettings } from '../../models/image/index.js';
import type { PreprocessPool } from '../../models/image/preprocess-pool.js';
import { elementCount } from '../../models/session/tensor.js';
import type { WorkerPool } from '../../models/session/worker-pool.js';
import type { EncoderIo } from '../batched-encoder.js';
import type { InstanceSlots } from '../instance-slots.js';
import { warmedComponent, type LoadDeps, type ModelSpec, type ServedComponent } from '../served-model.js';
import { tappedEncoderRunBatch, type TappedItem, type TappedRow } from '../tapped-encoder.js';
import { createAttentionExplainer, type AttentionExplainer } from './attention-explainer.js';
import { patchGrid } from './patch-grid.js';

/** The component's name (metrics' `component` label, `/v1/models`). */
export const ATTENTION_COMPONENT = 'attention';

export interface AttentionComponentOptions {
  pool: WorkerPool;
  /** The encoder's session, input and own output. */
  io: EncoderIo;
  taps: AttentionTaps | AttentionUnavailableError;
  image: ImageProcessorSettings;
  preprocessor: Pick<PreprocessPool, 'preprocess' | 'recycle' | 'renderHeatmap'>;
  slots: InstanceSlots;
  /** config.json's patch size, when it has one (else found from the token count). */
  patchSize?: number;
  /** Other outputs the component serves (CLIP's `patch_embeds`), warmed up with the taps. */
  extraTaps?: readonly string[];
}

export async function attentionComponent(
  options: AttentionComponentOptions,
  spec: ModelSpec,
  deps: LoadDeps,
): Promise<{ component: ServedComponent<TappedItem, TappedRow>; explainer: AttentionExplainer } | undefined> {
  const { pool, io, taps, slots } = options;
  if (taps instanceof AttentionUnavailableError) {
    deps.logger?.warn({ model: spec.id, reason: taps.message }, 'attention maps unavailable for this model');
    return undefined;
  }
  const itemSize = elementCount(io.itemDims);
  const every = [...tapNames(taps), ...(options.extraTaps ?? [])];
  const component = await warmedComponent<TappedItem, TappedRow>(
    ATTENTION_COMPONENT,
    tappedEncoderRunBatch(pool, io),
    () => ({ pixels: new Float32Array(itemSize), taps: every }),
    spec,
    deps,
    { ...spec, slots },
  );
  const first = taps.attention[0]!;
  const measured = await component.batcher.submit({ pixels: new Float32Array(itemSize), taps: [first] });
  const [heads, tokens, columns] = measured.taps.get(first)!.dims;
  if (heads === undefined || tokens === undefined || columns !== tokens) {
    throw new Error(`the attention tensor '${first}' has shape [${measured.taps.get(first)!.dims.join(', ')}] per image, expected [heads, tokens, tokens]`);
  }
  const grid = patchGrid(tokens, io.itemDims[1]!, io.itemDims[2]!, options.patchSize);
  const explainer = createAttentionExplainer({
    taps,
    layout: { heads, tokens, specialTokens: grid.specialTokens },
    grid,
    image: options.image,
    preprocessor: options.preprocessor,
    batcher: component.batcher,
  });
  return { component, explainer };
}
