/** Locates the .proto files (repo-root `proto/`) from sources and from the compiled build alike. */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const INFERENCE_PROTO = 'multimodal/v1/inference.proto';
export const INFERENCE_SERVICE = 'multimodal.v1.InferenceService';

export function protoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, INFERENCE_PROTO))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find proto/${INFERENCE_PROTO} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}
