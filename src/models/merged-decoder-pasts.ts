/** The cache of a merged decoder (one graph for every step): which present feeds which past. */
import type { SessionInfo } from './session/worker-protocol.js';

/** past_key_values.{layer}.key|value: a merged decoder's self-attention cache. */
export const MERGED_PAST_INPUT = /^past_key_values\.(\d+)\.(key|value)$/;

/** Each past input and the present output that feeds it at the next step; both must exist. `label` names the decoder in errors. */
export function mergedPastToPresent(decoder: SessionInfo, label: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  const outputs = new Set(decoder.outputs.map((o) => o.name));
  for (const { name } of decoder.inputs) {
    const match = MERGED_PAST_INPUT.exec(name);
    if (!match) continue;
    const present = `present.${match[1]}.${match[2]}`;
    if (!outputs.has(present)) throw new Error(`${label}: input '${name}' has no output '${present}'`);
    pairs[name] = present;
  }
  if (Object.keys(pairs).length === 0) throw new Error(`${label} takes no past_key_values: not a merged decoder with a cache`);
  return pairs;
}
