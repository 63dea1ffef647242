/**
 * The ONNX files a served model runs, with their size on disk (external weights included), for
 * `/v1/models`: what a tag costs to store and which files it read.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

export interface ModelFile {
  /** Relative to the model folder, e.g. `onnx/model_quantized.onnx`. */
  name: string;
  bytes: number;
}

/** Each graph file and, where present, its external-data file (`<graph>_data`). */
export function modelFiles(dir: string, graphs: readonly string[]): ModelFile[] {
  return graphs.flatMap((graph) =>
    [graph, `${graph}_data`].filter((file) => existsSync(file)).map((file) => ({ name: path.relative(dir, file), bytes: statSync(file).size })),
  );
}
