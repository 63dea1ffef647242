/**
 * A model file's bytes with extra graph outputs appended (see `graphOutputsSuffix`), for
 * `InferenceSession.create(bytes)`. Read in one allocation: the file, then the suffix.
 */
import { open } from 'node:fs/promises';
import { graphOutputsSuffix } from './graph-summary.js';

export async function readModelWithOutputs(file: string, outputNames: readonly string[]): Promise<Uint8Array> {
  const suffix = graphOutputsSuffix(outputNames);
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
