/**
 * Images in a chat prompt, the Idefics3 way (SmolVLM; docs/architecture.md, "Visual chat"): the
 * chat template writes one `<image>` per image; each becomes
 * `<fake_token_around_image><global-img>` + `<image>` × image_seq_len + `<fake_token_around_image>`
 * (one view, no splitting), and after tokenising, the embeddings at the `<image>` ids are replaced,
 * in order, by the vision encoder's features of each view.
 */
import { ApiError } from '../../errors.js';

export interface ImagePromptTokens {
  /** The placeholder the template writes and the token the features replace: '<image>'. */
  image: string;
  imageId: number;
  /** What surrounds a view's tokens: '<fake_token_around_image>', and what starts the global view: '<global-img>'. */
  around: string;
  global: string;
  /** Image tokens per view (processor_config.json `image_seq_len`). */
  perView: number;
}

/** The rendered prompt with each `<image>` placeholder expanded to its view's tokens; `images` must match their count. */
export function expandImagePlaceholders(prompt: string, tokens: ImagePromptTokens, images: number): string {
  const pieces = prompt.split(tokens.image);
  const placeholders = pieces.length - 1;
  if (placeholders !== images) {
    throw new ApiError('invalid_request', `the prompt has ${placeholders} image placeholder${placeholders === 1 ? '' : 's'} ('${tokens.image}') for ${images} image${images === 1 ? '' : 's'}; message text may not contain '${tokens.image}'`);
  }
  const view = `${tokens.around}${tokens.global}${tokens.image.repeat(tokens.perView)}${tokens.around}`;
  return pieces.join(view);
}

/**
 * Writes each view's features ([perView × hidden] each, in order) over the embeddings of the
 * `<image>` ids of `ids` (`embeds`: [ids.length × hidden]). Throws when the counts differ.
 */
export function spliceImageFeatures(ids: readonly number[], embeds: Float32Array, views: readonly Float32Array[], tokens: ImagePromptTokens, hidden: number): void {
  const positions: number[] = [];
  ids.forEach((id, position) => id === tokens.imageId && positions.push(position));
  const expected = views.length * tokens.perView;
  if (positions.length !== expected) {
    throw new ApiError('internal', `the prompt has ${positions.length} image tokens where ${views.length} view(s) of ${tokens.perView} need ${expected}`);
  }
  views.forEach((features, view) => {
    if (features.length !== tokens.perView * hidden) throw new ApiError('internal', `image features of ${features.length} values, expected ${tokens.perView} × ${hidden}`);
    for (let t = 0; t < tokens.perView; t++) {
      embeds.set(features.subarray(t * hidden, (t + 1) * hidden), positions[view * tokens.perView + t]! * hidden);
    }
  });
}
