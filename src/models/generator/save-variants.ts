/** Writes a generated graph the way the real repos ship it: `onnx/<name>.onnx` with its q8 and fp16 variants beside it. */
import path from 'node:path';
import { DTYPE_SUFFIX } from '../dtypes.js';
import { toFloat16 } from './float16-variant.js';
import type { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { quantizeDynamic } from './quantize-dynamic.js';

export async function saveWithVariants(graph: OnnxGraphBuilder, onnxDir: string, name: string): Promise<void> {
  await graph.save(path.join(onnxDir, `${name}.onnx`));
  await quantizeDynamic(graph).save(path.join(onnxDir, `${name}${DTYPE_SUFFIX.q8}.onnx`));
  await toFloat16(graph).save(path.join(onnxDir, `${name}${DTYPE_SUFFIX.fp16}.onnx`));
}
