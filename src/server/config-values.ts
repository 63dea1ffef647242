/** Parsing setting values from flags and environment variables, with messages naming the setting. */
import { EXECUTION_PROVIDERS, type ExecutionProvider } from '../models/session/execution-providers.js';
import { providerSchema } from './config-file.js';
export { MAX_TIMER_MS } from './config-file.js';

/** An integer setting from a flag or variable; counts (workers, batch sizes) take min 1. */
export function intFrom(value: string | undefined, name: string, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) {
    throw new Error(`${name} must be an integer ≥ ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}, got '${value}'`);
  }
  return parsed;
}

/** A positive number setting (seconds, fractions allowed). */
export function floatFrom(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value === '') return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`${name} must be a number > 0, got '${value}'`);
  return parsed;
}

export function boolFrom(value: string | undefined, name: string): boolean | undefined {
  if (value === undefined || value === '') return undefined;
  if (['1', 'true', 'yes'].includes(value.toLowerCase())) return true;
  if (['0', 'false', 'no'].includes(value.toLowerCase())) return false;
  throw new Error(`${name} must be 1/true or 0/false, got '${value}'`);
}

export function providersFrom(value: string | undefined, name: string): ExecutionProvider[] | undefined {
  if (!value) return undefined;
  return value.split(',').map((p) => {
    const parsed = providerSchema.safeParse(p.trim());
    if (!parsed.success) throw new Error(`${name}: unknown execution provider '${p}' (known: ${EXECUTION_PROVIDERS.join(', ')})`);
    return parsed.data;
  });
}

