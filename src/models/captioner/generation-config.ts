/**
 * A model's own decoding defaults, from `generation_config.json` (what transformers and
 * transformers.js read): used for every option a request leaves out.
 *
 *   max_new_tokens (else max_length − 1: it counts the start token), min_new_tokens (else
 *   min_length − 1), num_beams, length_penalty, early_stopping, repetition_penalty,
 *   no_repeat_ngram_size, and sampling only with do_sample: temperature, top_k, top_p.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { readJsonFile } from '../hf-folder.js';

export interface GenerationDefaults {
  maxNewTokens?: number;
  minNewTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  repetitionPenalty?: number;
  noRepeatNgramSize?: number;
  numBeams?: number;
  lengthPenalty?: number;
  earlyStopping?: boolean;
}

interface GenerationConfigJson {
  max_new_tokens?: number;
  max_length?: number;
  min_new_tokens?: number;
  min_length?: number;
  do_sample?: boolean;
  temperature?: number;
  top_k?: number;
  top_p?: number;
  repetition_penalty?: number;
  no_repeat_ngram_size?: number;
  num_beams?: number;
  length_penalty?: number;
  early_stopping?: boolean | 'never';
}

/** The folder's decoding defaults (none without a generation_config.json). */
export async function readGenerationDefaults(dir: string): Promise<GenerationDefaults> {
  if (!existsSync(path.join(dir, 'generation_config.json'))) return {};
  const c = await readJsonFile<GenerationConfigJson>(dir, 'generation_config.json');
  const defined = <T>(value: T | undefined, check: (v: T) => boolean) => (value !== undefined && check(value) ? value : undefined);
  const positive = (v: number) => Number.isFinite(v) && v > 0;
  const entries: GenerationDefaults = {
    maxNewTokens: defined(c.max_new_tokens, positive) ?? defined(c.max_length === undefined ? undefined : c.max_length - 1, positive),
    minNewTokens: defined(c.min_new_tokens, (v) => v >= 0) ?? defined(c.min_length === undefined ? undefined : c.min_length - 1, (v) => v > 0),
    repetitionPenalty: defined(c.repetition_penalty, positive),
    noRepeatNgramSize: defined(c.no_repeat_ngram_size, (v) => v >= 0),
    numBeams: defined(c.num_beams, (v) => Number.isInteger(v) && v >= 1),
    lengthPenalty: defined(c.length_penalty, Number.isFinite),
    earlyStopping: c.early_stopping === true ? true : undefined,
    // Sampling only where the model samples by default; else greedy (or beams).
    ...(c.do_sample === true && { temperature: defined(c.temperature, positive) ?? 1, topK: defined(c.top_k, (v) => v >= 0), topP: defined(c.top_p, positive) }),
  };
  return Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined));
}

/** The defaults in the request fields' names (max_new_tokens, num_beams, …), for /v1/models. */
export function generationDefaultsJson(defaults: GenerationDefaults): Record<string, unknown> {
  return Object.fromEntries(Object.entries(defaults).map(([key, value]) => [key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`), value]));
}
