/**
 * The model tags (dtypes) a served model can run in, named as transformers.js names them, with
 * the file suffix of each in the Hugging Face ONNX layout (`onnx/model<suffix>.onnx`). Defined
 * once: config, catalog, CLI and loaders derive from this table. `quantized` stays an alias of
 * `q8` (the `_quantized` file), the name older configs and transformers.js v2 used.
 */
export const DTYPE_SUFFIX = {
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const;

export type Dtype = keyof typeof DTYPE_SUFFIX;

export const DTYPES = Object.keys(DTYPE_SUFFIX) as Dtype[];

const ALIASES: Record<string, Dtype> = { quantized: 'q8' };

/** Every name a tag may be given by: the dtypes and their aliases. */
export const DTYPE_NAMES: readonly string[] = [...DTYPES, ...Object.keys(ALIASES)];

/** The dtype a tag names (`quantized` → `q8`), or undefined. */
export function dtypeOf(tag: string): Dtype | undefined {
  return (DTYPES as string[]).includes(tag) ? (tag as Dtype) : ALIASES[tag];
}

/** The default tag: a served id without `:tag` runs in it. */
export const DEFAULT_DTYPE: Dtype = 'fp32';

/**
 * The served id of a model in a dtype, the way Ollama tags quantisations: the bare id for the
 * default dtype, `id:tag` for the others (`vit-base-patch16-224:q8`).
 */
export function taggedId(id: string, dtype: Dtype): string {
  return dtype === DEFAULT_DTYPE ? id : `${id}:${dtype}`;
}
