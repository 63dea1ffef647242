/**
 * Seeded inputs for any session, built from its input metadata: what comparing a variant with
 * fp32 and timing a layout feed a model when no real data is at hand. Dynamic axes take the
 * batch size (first axis) or a short sequence length.
 */
import { SeededRandom } from '../generator/seeded-random.js';
import { elementCount, type NamedTensors } from './tensor.js';
import type { SessionInfo, ValueInfo } from './worker-protocol.js';

const SEQUENCE_LENGTH = 16;
/** Token ids stay below this (inside any real or generated vocabulary). */
const MAX_TOKEN_ID = 1000;

/** A seeded input for one value: smooth values in [-1, 1] for floats, token ids for int64. */
export function syntheticInput(info: ValueInfo, rng: SeededRandom, batchSize: number): NamedTensors[string] {
  const dims = info.shape.map((d, i) => (typeof d === 'number' && d > 0 ? d : i === 0 ? batchSize : SEQUENCE_LENGTH));
  const count = elementCount(dims);
  if (info.type === 'int64') {
    const ids = BigInt64Array.from({ length: count }, () => BigInt(1 + Math.floor(rng.next() * (MAX_TOKEN_ID - 1))));
    return { type: 'int64', dims, data: ids };
  }
  const [fx, fy, phase] = [rng.next() * 0.2, rng.next() * 0.2, rng.next() * 6];
  const data = Float32Array.from({ length: count }, (_, i) => Math.sin(fx * (i % 224) + fy * Math.floor(i / 224) + phase) * 0.8 + rng.normal() * 0.1);
  return { type: 'float32', dims, data };
}

/** Inputs for every input of a session, the same for the same seed. */
export function syntheticFeeds(session: SessionInfo, batchSize: number, seed = 7): NamedTensors {
  return Object.fromEntries(session.inputs.map((input, j) => [input.name, syntheticInput(input, new SeededRandom(seed + j), batchSize)]));
}
