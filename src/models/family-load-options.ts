import type { Logger } from 'pino';
import type { Dtype } from './dtypes.js';
import type { ExecutionProvider } from './session/execution-providers.js';
import { WorkerPool } from './session/worker-pool.js';
import type { SessionWorkerOptions } from './session/worker-protocol.js';

/** What every model family's loader takes: the folder, the tag, and the worker layout. */
export interface FamilyLoadOptions {
  dir: string;
  variant: Dtype;
  instances: number;
  intraOpThreads: number;
  providers: ExecutionProvider[];
  requireProvider: boolean;
  allowSpinning: boolean;
  logger?: Logger;
  onWorkerReplaced?: () => void;
}

/** How sessions are edited at load (see SessionWorkerOptions). */
export type SessionEdits = Pick<SessionWorkerOptions, 'graphAdditions' | 'hoistEncoderProjections'>;

/**
 * The family's worker pool: `sessions` (name → ONNX file) in each of the layout's instances,
 * edited at load as `edits` says (outputs added, encoder projections split out).
 */
export function createFamilyPool(options: FamilyLoadOptions, sessions: Record<string, string>, edits: SessionEdits = {}): Promise<WorkerPool> {
  // Picked one by one: callers pass whole model specs, whose other fields are not the pool's.
  const { instances, intraOpThreads, providers, requireProvider, allowSpinning, logger, onWorkerReplaced } = options;
  return WorkerPool.create({ sessions, ...edits, instances, intraOpThreads, providers, requireProvider, allowSpinning, logger, onWorkerReplaced });
}
