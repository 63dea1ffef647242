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

/** The reference dtype: variants are compared with it, and it is the default on CPU. */
export const DEFAULT_DTYPE: Dtype = 'fp32';

/** Providers whose default dtype is fp16 (half the memory and the native speed of GPUs). */
const FP16_FIRST_PROVIDERS: readonly string[] = ['cuda', 'tensorrt'];

/** The dtype a model entry without a tag runs in: fp16 when its first provider is a GPU's, else fp32. */
export function defaultDtypeFor(providers: readonly string[]): Dtype {
  return FP16_FIRST_PROVIDERS.includes(providers[0] ?? '') ? 'fp16' : DEFAULT_DTYPE;
}

/**
 * The served id of a model in a dtype, the way Ollama tags quantisations: the bare id for the
 * default dtype (fp32 on CPU, fp16 on a GPU), `id:tag` for the others (`vit-base-patch16-224:q8`).
 */
export function taggedId(id: string, dtype: Dtype, defaultDtype: Dtype = DEFAULT_DTYPE): string {
  return dtype === defaultDtype ? id : `${id}:${dtype}`;
}
