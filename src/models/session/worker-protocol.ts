/** Messages between a WorkerPool and its session workers. */
import type { ExecutionProvider } from './execution-providers.js';
import type { NamedTensors, TensorType } from './tensor.js';

export interface SessionWorkerOptions {
  modelPath: string;
  intraOpThreads: number;
  providers: ExecutionProvider[];
  /** Fail instead of falling back to CPU when the first provider cannot be created. */
  requireProvider: boolean;
  /** Busy-waiting after a run steals cores from sibling sessions; off when several share the CPU. */
  allowSpinning: boolean;
}

export interface ValueInfo {
  name: string;
  /** undefined for non-tensor values (sequences, maps). */
  type: TensorType | string | undefined;
  /** number = fixed, string = symbolic (dynamic) axis. */
  shape: (number | string)[];
}

export interface ProviderFailure {
  provider: ExecutionProvider;
  message: string;
}

export type WorkerToPool =
  | { kind: 'ready'; provider: ExecutionProvider; fallbacks: ProviderFailure[]; inputs: ValueInfo[]; outputs: ValueInfo[] }
  | { kind: 'load_failed'; message: string; fallbacks: ProviderFailure[] }
  | { kind: 'result'; id: number; outputs: NamedTensors }
  | { kind: 'run_failed'; id: number; message: string };

export type PoolToWorker =
  | { kind: 'run'; id: number; feeds: NamedTensors; outputNames: string[] }
  | { kind: 'close' }
  /** Fault injection: exit the worker thread at once, as a crash would. */
  | { kind: 'crash' };
