/** Execution providers the server knows, in the order it prefers them by default. */
export const EXECUTION_PROVIDERS = ['tensorrt', 'cuda', 'cpu'] as const;

export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/**
 * Which providers to try, in order. CPU always ends the list unless the configuration
 * requires the first provider (then a failure to create it is an error, not a fallback).
 */
export function providerAttempts(preferred: readonly ExecutionProvider[], required: boolean): ExecutionProvider[] {
  if (required) return preferred.slice(0, 1);
  const list = [...preferred];
  if (!list.includes('cpu')) list.push('cpu');
  return list;
}
