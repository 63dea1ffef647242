/**
 * Images in a chat prompt, the Idefics3 way (SmolVLM; docs/architecture.md, "Visual chat"): the
 * chat template writes one `<image>` per image; each becomes
 * `<fake_token_around_image><global-img>` + `<image>` × image_seq_len + `<fake_token_around_image>`
 * when it is one view, or, split into a grid of tiles, each tile's
 * `<fake_token_around_image><row_r_col_c>` + `<image>` × image_seq_len (a newline after each row)
 * followed by `\n` and the global view as above; after tokenising, the embeddings at the
 * `<image>` ids are replaced, in order, by the vision encoder's features of each view.
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

/** An image's tile grid: 0 × 0 when it is one view. */
export interface ViewGrid {
  rows: number;
  cols: number;
}

/** The rendered prompt with each `<image>` placeholder expanded to its image's view tokens; one grid per placeholder. */
export function expandImagePlaceholders(prompt: string, tokens: ImagePromptTokens, grids: readonly ViewGrid[]): string {
  const pieces = prompt.split(tokens.image);
  const placeholders = pieces.length - 1;
  if (placeholders !== grids.length) {
    throw new ApiError('invalid_request', `the prompt has ${placeholders} image placeholder${placeholders === 1 ? '' : 's'} ('${tokens.image}') for ${grids.length} image${grids.length === 1 ? '' : 's'}; message text may not contain '${tokens.image}'`);
  }
  return pieces.reduce((text, piece, i) => text + imageText(grids[i - 1]!, tokens) + piece);
}

function imageText({ rows, cols }: ViewGrid, tokens: ImagePromptTokens): string {
  const view = tokens.image.repeat(tokens.perView);
  const global = `${tokens.around}${tokens.global}${view}${tokens.around}`;
  if (rows === 0 && cols === 0) return global;
  let text = '';
  for (let r = 1; r <= rows; r++) {
    for (let c = 1; c <= cols; c++) text += `${tokens.around}<row_${r}_col_${c}>${view}`;
    text += '\n';
  }
  return `${text}\n${global}`;
}

/** Views an image with this grid has: its tiles and the global view. */
export function viewCount({ rows, cols }: ViewGrid): number {
  return rows * cols + 1;
}

/**
 * Writes the features of each image's views ([views × perView × hidden] each, in order) over the
 * embeddings of the `<image>` ids of `ids` (`embeds`: [ids.length × hidden]). Throws when the
 * counts differ.
 */
export function spliceImageFeatures(ids: readonly number[], embeds: Float32Array, images: readonly Float32Array[], tokens: ImagePromptTokens, hidden: number): void {
  const positions: number[] = [];
  ids.forEach((id, position) => id === tokens.imageId && positions.push(position));
  const rows = images.reduce((sum, features) => sum + features.length / hidden, 0);
  if (positions.length !== rows || images.some((features) => features.length % (tokens.perView * hidden) !== 0)) {
    throw new ApiError('internal', `the prompt has ${positions.length} image tokens where the images' features have ${rows} rows (${tokens.perView} per view)`);
  }
  let position = 0;
  for (const features of images) {
    for (let t = 0; t < features.length / hidden; t++) embeds.set(features.subarray(t * hidden, (t + 1) * hidden), positions[position++]! * hidden);
  }
}
