/**
 * The ONNX files a served model runs, with their size on disk (external weights included), for
 * `/v1/models`: what a tag costs to store and which files it read.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import type { Dtype } from '../models/dtypes.js';
import { onnxFile } from '../models/hf-folder.js';

export interface ModelFile {
  /** Relative to the model folder, e.g. `onnx/model_quantized.onnx`. */
  name: string;
  bytes: number;
}

/** The graph of each session and, where present, its external-data file (`<graph>_data`). */
export function modelFiles(dir: string, sessions: readonly string[], variant: Dtype): ModelFile[] {
  return sessions.flatMap((session) => {
    const graph = onnxFile(dir, session, variant);
    return [graph, `${graph}_data`]
      .filter((file) => existsSync(file))
      .map((file) => ({ name: path.relative(dir, file), bytes: statSync(file).size }));
  });
}
