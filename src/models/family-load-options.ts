import type { Logger } from 'pino';
import type { Dtype } from './dtypes.js';
import type { ExecutionProvider } from './session/execution-providers.js';

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
