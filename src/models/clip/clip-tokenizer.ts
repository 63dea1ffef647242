/**
 * CLIP's tokenizer from the model folder (`tokenizer.json`, `tokenizer_config.json`), with the
 * tokenizer classes transformers.js itself uses (@huggingface/tokenizers: pure JS, so the main
 * thread never loads onnxruntime). Prompts over the text tower's positions are truncated the way
 * HF does it (keep the first tokens, end with `<|endoftext|>`) and say so.
 *
 * @example
 *   const tokenizer = await loadClipTokenizer(dir, 77);
 *   tokenizer.encode('a photo of a cat.'); // { ids: [49406, 320, 1125, 539, 320, 2368, 269, 49407], truncated: false }
 */
import { Tokenizer } from '@huggingface/tokenizers';
import { readJsonFile } from '../hf-folder.js';

export interface EncodedPrompt {
  ids: number[];
  /** The prompt had more tokens than the tower takes; its end was cut. */
  truncated: boolean;
}

export interface ClipTokenizer {
  encode(text: string): EncodedPrompt;
  /** Pads a batch (the end-of-text id, as CLIP's pad token). */
  readonly padId: number;
  /** Characters read of a text; the rest cannot reach the tower (texts sharing them embed alike). */
  readonly maxChars: number;
}

/** Text past this many characters cannot reach the tower's positions: cut before tokenizing (BPE cost grows with the text). */
const MAX_TEXT_CHARS = 1000;

export async function loadClipTokenizer(dir: string, maxTokens: number): Promise<ClipTokenizer> {
  const tokenizer = new Tokenizer(await readJsonFile(dir, 'tokenizer.json'), await readJsonFile(dir, 'tokenizer_config.json'));
  const endOfText = tokenizer.encode('').ids.at(-1);
  if (endOfText === undefined) throw new Error(`${dir}/tokenizer.json adds no end-of-text token`);
  return {
    padId: endOfText,
    maxChars: MAX_TEXT_CHARS,
    encode(text) {
      const cut = text.length > MAX_TEXT_CHARS;
      const { ids } = tokenizer.encode(cut ? text.slice(0, MAX_TEXT_CHARS) : text);
      if (ids.length <= maxTokens && !cut) return { ids, truncated: false };
      if (ids.length <= maxTokens) return { ids, truncated: true };
      return { ids: [...ids.slice(0, maxTokens - 1), endOfText], truncated: true };
    },
  };
}
