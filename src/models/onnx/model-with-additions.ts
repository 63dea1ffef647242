/**
 * A model file's bytes with nodes and outputs appended (see `graphSuffix`), for
 * `InferenceSession.create(bytes)`. Read in one allocation: the file, then the suffix.
 */
import { open } from 'node:fs/promises';
import { graphSuffix, type GraphAdditions } from './graph-summary.js';

export async function readModelWithAdditions(file: string, additions: GraphAdditions): Promise<Uint8Array> {
  const suffix = graphSuffix(additions);
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    const bytes = new Uint8Array(size + suffix.byteLength);
    let offset = 0;
    while (offset < size) {
      const { bytesRead } = await handle.read(bytes, offset, size - offset, offset);
      if (bytesRead === 0) throw new Error(`${file} ended after ${offset} of ${size} bytes`);
      offset += bytesRead;
    }
    bytes.set(suffix, size);
    return bytes;
  } finally {
    await handle.close();
  }
}
