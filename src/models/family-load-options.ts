import type { Logger } from 'pino';
import type { Dtype } from './dtypes.js';
import type { GraphAdditions } from './onnx/graph-summary.js';
import type { ExecutionProvider } from './session/execution-providers.js';
import { WorkerPool } from './session/worker-pool.js';

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

/**
 * The family's worker pool: `sessions` (name → ONNX file) in each of the layout's instances,
 * with `graphAdditions` (name → nodes and outputs) added to their graphs.
 */
export function createFamilyPool(
  options: FamilyLoadOptions,
  sessions: Record<string, string>,
  graphAdditions?: Record<string, GraphAdditions>,
): Promise<WorkerPool> {
  // Picked one by one: callers pass whole model specs, whose other fields are not the pool's.
  const { instances, intraOpThreads, providers, requireProvider, allowSpinning, logger, onWorkerReplaced } = options;
  return WorkerPool.create({ sessions, graphAdditions, instances, intraOpThreads, providers, requireProvider, allowSpinning, logger, onWorkerReplaced });
}
