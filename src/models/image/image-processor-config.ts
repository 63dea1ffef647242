/**
 * Hugging Face `preprocessor_config.json` → one normalised, typed settings object.
 *
 * Accepts the current image-processor shape (`image_processor_type`, `size` as a dict,
 * `do_rescale`/`rescale_factor`) and the legacy feature-extractor shape (`feature_extractor_type`,
 * `size` as an int, no `do_rescale`: legacy extractors rescale by 1/255 implicitly). Unknown keys
 * are ignored. Semantics follow `transformers.image_processing_utils.get_size_dict`.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';

/** Resampling filter: PIL codes 0 NEAREST, 1 LANCZOS, 2 BILINEAR, 3 BICUBIC, 4 BOX, 5 HAMMING. */
export type Resample = 'nearest' | 'lanczos' | 'bilinear' | 'bicubic' | 'box' | 'hamming';

/** Where a resize goes: an exact size, or the shortest edge (optionally capping the longest). */
export type ResizeTarget =
  | { readonly kind: 'exact'; readonly height: number; readonly width: number }
  | { readonly kind: 'shortest_edge'; readonly shortestEdge: number; readonly longestEdge?: number };

/** A crop size (center crop). */
export interface CropSize {
  readonly height: number;
  readonly width: number;
}

/** Normalised image preprocessing settings (camelCase; the Python processors' meaning). */
export interface ImageProcessorSettings {
  /** `image_processor_type` or `feature_extractor_type`, when given. */
  readonly processorType: string | undefined;
  /** True for the legacy feature-extractor shape. */
  readonly legacy: boolean;
  readonly doResize: boolean;
  /** Defined whenever `doResize` is true. */
  readonly size: ResizeTarget | undefined;
  readonly resample: Resample;
  readonly doCenterCrop: boolean;
  /** Defined whenever `doCenterCrop` is true. */
  readonly cropSize: CropSize | undefined;
  readonly doRescale: boolean;
  readonly rescaleFactor: number;
  readonly doNormalize: boolean;
  readonly imageMean: readonly [number, number, number];
  readonly imageStd: readonly [number, number, number];
  /** Informational: decoding always converts to RGB, like `load_image` in the Python pipelines. */
  readonly doConvertRgb: boolean;
  /**
   * The size of every output (crop size, or the exact resize size), or undefined when it depends
   * on the input (a shortest-edge resize without a center crop). See {@link fixedOutputSize}.
   */
  readonly outputSize: CropSize | undefined;
}

/** Options the model family passes: how an int `size` reads, and the processor class' defaults. */
export interface ParseImageProcessorOptions {
  /** `get_size_dict(default_to_square=...)`: true for ViT-style (square), false for CLIP-style (shortest edge). */
  readonly defaultToSquare: boolean;
  /** Values for keys the config leaves out (the Python class' `__init__` defaults). */
  readonly defaults?: Partial<ImageProcessorSettings>;
  /** Named in error messages, e.g. the file path. */
  readonly source?: string;
}

/** A preprocessor config that cannot be used; the message says which key and why. */
export class ImageProcessorConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageProcessorConfigError';
  }
}

const PIL_RESAMPLE: readonly Resample[] = ['nearest', 'lanczos', 'bilinear', 'bicubic', 'box', 'hamming'];

const positiveInt = z.number().int().positive();
const sizeDict = z.object({
  height: positiveInt.optional(),
  width: positiveInt.optional(),
  shortest_edge: positiveInt.optional(),
  longest_edge: positiveInt.optional(),
});
const sizeValue = z.union([positiveInt, z.array(positiveInt).length(2), sizeDict], {
  error: 'expected a positive int, [height, width], {height, width} or {shortest_edge[, longest_edge]}',
});
const meanStd = z.union([z.number(), z.array(z.number()).min(1)], { error: 'expected a number or a list of numbers' });

const configSchema = z.object({
  image_processor_type: z.string().optional(),
  feature_extractor_type: z.string().optional(),
  do_resize: z.boolean().optional(),
  size: sizeValue.optional(),
  max_size: positiveInt.optional(),
  resample: z.number().int().optional(),
  do_center_crop: z.boolean().optional(),
  crop_size: sizeValue.optional(),
  do_rescale: z.boolean().optional(),
  rescale_factor: z.number().positive().optional(),
  do_normalize: z.boolean().optional(),
  image_mean: meanStd.optional(),
  image_std: meanStd.optional(),
  do_convert_rgb: z.boolean().optional(),
});

type SizeValue = z.infer<typeof sizeValue>;

/**
 * Parses a `preprocessor_config.json` object (current or legacy shape).
 *
 * @example
 * const vit = parseImageProcessorConfig(
 *   { feature_extractor_type: 'ViTFeatureExtractor', size: 224, resample: 2, do_normalize: true,
 *     image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] },
 *   { defaultToSquare: true },
 * ); // vit.size = { kind: 'exact', height: 224, width: 224 }, vit.rescaleFactor = 1/255
 */
export function parseImageProcessorConfig(raw: unknown, options: ParseImageProcessorOptions): ImageProcessorSettings {
  const where = options.source ? ` in ${options.source}` : '';
  const fail = (message: string): never => {
    throw new ImageProcessorConfigError(`invalid preprocessor config${where}: ${message}`);
  };
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    return fail(issues.join('; '));
  }
  const c = parsed.data;
  const d = options.defaults ?? {};
  const legacy = c.image_processor_type === undefined && c.feature_extractor_type !== undefined;

  const doResize = c.do_resize ?? d.doResize ?? true;
  let size: ResizeTarget | undefined;
  if (c.size !== undefined) size = toResizeTarget(c.size, options.defaultToSquare, c.max_size, fail);
  else size = d.size;
  if (doResize && size === undefined) fail('do_resize is true but size is missing');

  let resample: Resample = d.resample ?? 'bilinear';
  if (c.resample !== undefined) {
    const r = PIL_RESAMPLE[c.resample];
    if (r === undefined) {
      fail(`resample ${c.resample} is not a PIL filter code (0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming)`);
    } else resample = r;
  }

  const doCenterCrop = c.do_center_crop ?? d.doCenterCrop ?? false;
  let cropSize: CropSize | undefined = d.cropSize;
  if (c.crop_size !== undefined) {
    const t = toResizeTarget(c.crop_size, true, undefined, fail);
    if (t.kind !== 'exact') fail('crop_size must be an int or {height, width}');
    else cropSize = { height: t.height, width: t.width };
  }
  if (doCenterCrop && cropSize === undefined) fail('do_center_crop is true but crop_size is missing');

  const doNormalize = c.do_normalize ?? d.doNormalize ?? true;
  const imageMean = c.image_mean !== undefined ? toTriple(c.image_mean, 'image_mean', fail) : d.imageMean;
  const imageStd = c.image_std !== undefined ? toTriple(c.image_std, 'image_std', fail) : d.imageStd;
  if (doNormalize && (imageMean === undefined || imageStd === undefined)) {
    fail('do_normalize is true but image_mean or image_std is missing');
  }
  if (imageStd?.some((s) => s === 0)) fail('image_std must not contain 0');

  const outputSize = doCenterCrop ? cropSize : doResize && size?.kind === 'exact' ? size : undefined;
  return {
    processorType: c.image_processor_type ?? c.feature_extractor_type,
    legacy,
    doResize,
    size,
    resample,
    doCenterCrop,
    cropSize,
    doRescale: c.do_rescale ?? d.doRescale ?? true,
    rescaleFactor: c.rescale_factor ?? d.rescaleFactor ?? 1 / 255,
    doNormalize,
    imageMean: imageMean ?? [0, 0, 0],
    imageStd: imageStd ?? [1, 1, 1],
    doConvertRgb: c.do_convert_rgb ?? d.doConvertRgb ?? true,
    outputSize: outputSize && { height: outputSize.height, width: outputSize.width },
  };
}

/** The fixed output size (what a model's `pixel_values` must take); throws when it depends on the input. */
export function fixedOutputSize(settings: ImageProcessorSettings): CropSize {
  if (settings.outputSize) return settings.outputSize;
  throw new ImageProcessorConfigError(
    'preprocessor config has no fixed output size (shortest-edge resize without center crop); batching needs one',
  );
}

/** Reads and parses a `preprocessor_config.json` file. */
export async function loadImageProcessorConfig(
  file: string,
  options: Omit<ParseImageProcessorOptions, 'source'>,
): Promise<ImageProcessorSettings> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw new ImageProcessorConfigError(`cannot read preprocessor config ${file}: ${(error as Error).message}`);
  }
  return parseImageProcessorConfig(raw, { ...options, source: file });
}

/** `get_size_dict`: int → square or shortest edge; [h, w] → exact; dicts as they are. */
function toResizeTarget(
  value: SizeValue,
  defaultToSquare: boolean,
  maxSize: number | undefined,
  fail: (message: string) => never,
): ResizeTarget {
  if (typeof value === 'number') {
    if (!defaultToSquare) return shortestEdge(value, maxSize, fail);
    if (maxSize !== undefined) fail('an int size with max_size needs a shortest-edge (CLIP-style) processor');
    return { kind: 'exact', height: value, width: value };
  }
  if (Array.isArray(value)) {
    const [height, width] = value;
    if (height === undefined || width === undefined) return fail('a list size must be [height, width]');
    return { kind: 'exact', height, width };
  }
  const { height, width, shortest_edge: se, longest_edge: le } = value;
  if (height !== undefined && width !== undefined && se === undefined && le === undefined) {
    return { kind: 'exact', height, width };
  }
  if (se !== undefined && height === undefined && width === undefined) return shortestEdge(se, le, fail);
  return fail(
    `size ${JSON.stringify(value)} is not supported: expected {height, width} or {shortest_edge[, longest_edge]}`,
  );
}

function shortestEdge(se: number, le: number | undefined, fail: (message: string) => never): ResizeTarget {
  if (le === undefined) return { kind: 'shortest_edge', shortestEdge: se };
  if (le <= se) fail(`longest_edge (${le}) must be larger than shortest_edge (${se})`);
  return { kind: 'shortest_edge', shortestEdge: se, longestEdge: le };
}

function toTriple(
  value: number | number[],
  key: string,
  fail: (message: string) => never,
): readonly [number, number, number] {
  if (typeof value === 'number') return [value, value, value];
  const [a, b, c] = value;
  if (a === undefined) return fail(`${key} is empty`);
  if (value.length === 1) return [a, a, a];
  if (value.length !== 3 || b === undefined || c === undefined) {
    return fail(`${key} must be a number or 3 numbers (RGB), got ${value.length}`);
  }
  return [a, b, c];
}
