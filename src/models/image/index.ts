/**
 * Image preprocessing with the Python processors' semantics (PIL): decode, resize, crop,
 * rescale, normalise. See preprocess-image.ts for the pipeline and its parity with PIL.
 */
export {
  parseImageProcessorConfig,
  loadImageProcessorConfig,
  fixedOutputSize,
  ImageProcessorConfigError,
  type ImageProcessorSettings,
  type ParseImageProcessorOptions,
  type ResizeTarget,
  type CropSize,
  type Resample,
} from './image-processor-config.js';
export {
  decodeImage,
  probeImage,
  SUPPORTED_IMAGE_FORMATS,
  type RgbImage,
  type DecodeLimits,
  type ImageProbe,
} from './decode-image.js';
export {
  preprocessImage,
  preprocessRgbImage,
  resizeRgbImage,
  resizeOutputSize,
  centerCropOffsets,
  toPixelValues,
  type PreprocessedImage,
  type PreprocessOptions,
} from './preprocess-image.js';
export { pilResize, pilResizeNearest, type PilFilter } from './pil-resample.js';
export { PreprocessPool, defaultPreprocessThreads, type MemoryBudget, type PreprocessCallOptions } from './preprocess-pool.js';
export { preprocessCost, pilResizeOps, MAX_JS_RESIZE_OPS, type PreprocessCost } from './preprocess-cost.js';
export { imageSignature, requireImageSignature } from './image-signature.js';
