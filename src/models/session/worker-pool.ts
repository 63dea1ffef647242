/**
 * A pool of session workers for one model: N worker threads, each with its own onnxruntime
 * session. The pool keeps no request queue (the batcher is the only queue): `run` takes an
 * idle instance, and callers keep at most `size` runs in flight. A worker that dies is
 * replaced; only the run it had in flight fails, with `internal`.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { ApiError } from '../../errors.js';
import type { ExecutionProvider } from './execution-providers.js';
import { transferablesOf, type NamedTensors } from './tensor.js';
import type { CacheStep, PoolToWorker, ProviderFailure, SessionInfo, SessionWorkerOptions, WorkerToPool } from './worker-protocol.js';

export interface WorkerPoolOptions extends SessionWorkerOptions {
  instances: number;
  logger?: Logger;
  /** Called each time a dead worker has been replaced. */
  onWorkerReplaced?: () => void;
}

export interface RunOptions {
  /**
   * Receives the run's inputs back after a successful run (their buffers were transferred to the
   * worker and back), for the caller to reuse instead of allocating new ones.
   */
  onFeedsReturned?: (feeds: NamedTensors) => void;
}

/** A run's outputs, and for a decoder step the bytes its cache now holds in the worker. */
interface RunResult {
  outputs: NamedTensors;
  cacheBytes?: number;
}

interface PendingRun {
  id: number;
  resolve: (result: RunResult) => void;
  onFeedsReturned: RunOptions['onFeedsReturned'];
  reject: (error: Error) => void;
}

interface Instance {
  index: number;
  worker: Worker;
  state: 'starting' | 'idle' | 'busy' | 'closed';
  pending?: PendingRun;
  /** Fault injection: the next run makes this worker exit instead. */
  crashOnNextRun?: boolean;
}

interface LoadedInfo {
  provider: ExecutionProvider;
  fallbacks: ProviderFailure[];
  sessions: Record<string, SessionInfo>;
  notes: string[];
}

// In the compiled build the worker is the .js file next to this one; from TypeScript sources
// (tsx, tests) a bootstrap registers tsx in the worker first, then loads the .ts entry.
const fromSources = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const workerEntry = new URL(`./session-worker${fromSources ? '.ts' : '.js'}`, import.meta.url);
const workerUrl = fromSources ? new URL('./tsx-worker-bootstrap.mjs', import.meta.url) : workerEntry;
const workerArgv = fromSources ? [workerEntry.href] : [];
const RESPAWN_DELAY_MS = 500;
const MAX_RESPAWN_DELAY_MS = 30_000;

export class WorkerPool {
  readonly size: number;
  readonly provider: ExecutionProvider;
  readonly fallbacks: ProviderFailure[];
  /** Inputs and outputs of each session, by name (sessions split off at load included). */
  readonly sessions: Record<string, SessionInfo>;
  /** The ONNX file each session was loaded from, by name. */
  readonly files: Record<string, string>;
  /** Number of workers replaced after dying. */
  replacements = 0;

  private readonly instances: Instance[] = [];
  private readonly waiters: Array<(instance: Instance | Error) => void> = [];
  /** Callers waiting for one particular instance (decoder steps), served before the others. */
  private readonly pinnedWaiters = new Map<number, Array<(instance: Instance | Error) => void>>();
  private nextRunId = 1;
  private closed = false;
  /** Why the last replacement of a dead worker failed, until one succeeds. */
  private respawnFailure: string | undefined;

  private constructor(private readonly options: WorkerPoolOptions, info: LoadedInfo) {
    this.size = options.instances;
    this.provider = info.provider;
    this.fallbacks = info.fallbacks;
    this.sessions = info.sessions;
    this.files = options.sessions;
  }

  /** Starts every worker and resolves once all sessions are loaded (rejects if one fails). */
  static async create(options: WorkerPoolOptions): Promise<WorkerPool> {
    if (options.instances < 1) throw new Error('a worker pool needs at least one instance');
    const started = Array.from({ length: options.instances }, (_, index) => startWorker(options, index));
    const results = await Promise.allSettled(started.map((s) => s.ready));
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await Promise.all(started.map((s) => s.worker.terminate()));
      throw failure.reason;
    }
    const info = (results[0] as PromiseFulfilledResult<LoadedInfo>).value;
    const pool = new WorkerPool(options, info);
    for (const note of info.notes) options.logger?.info(note);
    started.forEach((s, index) => pool.adopt(s.worker, index));
    return pool;
  }

  get idleCount(): number {
    return this.instances.filter((i) => i.state === 'idle').length;
  }

  /** The inputs and outputs of one session; throws for a name the pool does not hold. */
  session(name: string): SessionInfo {
    const info = this.sessions[name];
    if (!info) throw new Error(`no session '${name}' (the pool holds ${Object.keys(this.sessions).join(', ')})`);
    return info;
  }

  /** Runs one batch of session `session` on an idle instance (waiting only while a dead worker is replaced). */
  async run(session: string, feeds: NamedTensors, outputNames: string[], options: RunOptions = {}): Promise<NamedTensors> {
    this.session(session);
    checkFeeds(feeds);
    const instance = await this.takeIdle();
    return (await this.dispatch(instance, { session, feeds, outputNames }, options.onFeedsReturned)).outputs;
  }

  /**
   * One decoder step whose KV cache stays in a worker (`CacheStep`): the first step (`start`) runs
   * on any idle instance, and the caller passes the returned instance to every later step of that
   * cache, and to `releaseCache` when its rows are done.
   */
  async step(session: string, feeds: NamedTensors, outputNames: string[], cache: CacheStep, instance?: number): Promise<{ outputs: NamedTensors; instance: number; cacheBytes: number }> {
    this.session(session);
    checkFeeds(feeds);
    if (!cache.start && instance === undefined) throw new Error(`decoder cache '${cache.id}': later steps name the instance that holds it`);
    const taken = instance === undefined ? await this.takeIdle() : await this.takeInstance(instance);
    const { outputs, cacheBytes } = await this.dispatch(taken, { session, feeds, outputNames, cache }, undefined);
    return { outputs, instance: taken.index, cacheBytes: cacheBytes ?? 0 };
  }

  /** Sends one run to a taken instance (or, with a crash injected, makes its worker exit). */
  private dispatch(instance: Instance, run: Omit<Extract<PoolToWorker, { kind: 'run' }>, 'kind' | 'id'>, onFeedsReturned: RunOptions['onFeedsReturned']): Promise<RunResult> {
    const id = this.nextRunId++;
    return new Promise<RunResult>((resolve, reject) => {
      instance.pending = { id, resolve, reject, onFeedsReturned };
      if (instance.crashOnNextRun) instance.worker.postMessage({ kind: 'crash' });
      else instance.worker.postMessage({ kind: 'run', id, ...run }, transferablesOf(run.feeds));
    });
  }

  /** Frees a decoder cache in the worker that holds it (a no-op if that worker was replaced). */
  releaseCache(instance: number, cacheId: string): void {
    const holder = this.instances[instance];
    if (holder && holder.state !== 'closed') holder.worker.postMessage({ kind: 'release_cache', cacheId });
  }

  /**
   * Fault injection for tests and drills: the next batch sent to instance `index` makes its
   * worker exit while that batch is in flight. (Terminating a worker from outside while
   * onnxruntime is inside `run` aborts the whole process, so a drill must not do that.)
   */
  injectCrash(index: number): void {
    const instance = this.instances[index];
    if (!instance) throw new RangeError(`no instance ${index}`);
    instance.crashOnNextRun = true;
  }

  /**
   * Stops every worker: queued waiters get `not_ready`; each worker releases its session and
   * exits between runs. Only a worker still busy after `timeoutMs` is terminated (terminating one
   * inside `session.run` aborts the process, so that is the last resort, for shutdown only).
   */
  async close(timeoutMs = 30_000): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.allWaiters()) waiter(new ApiError('not_ready', 'the model is shutting down'));
    await Promise.all(
      this.instances.map(async (instance) => {
        if (instance.state === 'closed') return; // died earlier; its replacement never came
        const exited = new Promise<void>((resolve) => instance.worker.once('exit', () => resolve()));
        instance.worker.postMessage({ kind: 'close' });
        const timer = setTimeout(() => void instance.worker.terminate(), timeoutMs);
        await exited;
        clearTimeout(timer);
        instance.state = 'closed';
        instance.pending?.reject(new ApiError('not_ready', 'the model is shutting down'));
      }),
    );
  }

  private takeIdle(): Promise<Instance> {
    if (this.closed) return Promise.reject(new ApiError('not_ready', 'the model is shutting down'));
    const idle = this.instances.find((i) => i.state === 'idle');
    if (idle) {
      idle.state = 'busy';
      return Promise.resolve(idle);
    }
    const anyAlive = this.instances.some((i) => i.state === 'busy');
    if (!anyAlive && this.respawnFailure !== undefined) return Promise.reject(this.noWorkerError());
    return new Promise((resolve, reject) => {
      this.waiters.push((got) => (got instanceof Error ? reject(got) : resolve(got)));
    });
  }

  /** Takes every waiter out of the queues (to reject them). */
  private allWaiters(): Array<(instance: Instance | Error) => void> {
    const pinned = [...this.pinnedWaiters.values()].flat();
    this.pinnedWaiters.clear();
    return [...this.waiters.splice(0), ...pinned];
  }

  /** Waits for one particular instance (the one holding a decoder cache). */
  private takeInstance(index: number): Promise<Instance> {
    if (this.closed) return Promise.reject(new ApiError('not_ready', 'the model is shutting down'));
    const instance = this.instances[index];
    if (!instance) return Promise.reject(new RangeError(`no instance ${index}`));
    if (instance.state === 'idle') {
      instance.state = 'busy';
      return Promise.resolve(instance);
    }
    return new Promise((resolve, reject) => {
      const waiting = this.pinnedWaiters.get(index) ?? [];
      waiting.push((got) => (got instanceof Error ? reject(got) : resolve(got)));
      this.pinnedWaiters.set(index, waiting);
    });
  }

  private release(instance: Instance): void {
    instance.pending = undefined;
    const pinned = this.pinnedWaiters.get(instance.index)?.shift();
    if (pinned) {
      instance.state = 'busy';
      return pinned(instance);
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      instance.state = 'busy';
      waiter(instance);
    } else {
      instance.state = 'idle';
    }
  }

  private adopt(worker: Worker, index: number): void {
    const instance: Instance = { index, worker, state: 'starting' };
    this.instances[index] = instance;
    worker.on('message', (message: WorkerToPool) => this.onMessage(instance, message));
    worker.on('error', (error) => this.options.logger?.error({ err: error, instance: index }, 'session worker error'));
    worker.on('exit', (exitCode) => this.onExit(instance, exitCode));
    this.release(instance);
  }

  private onMessage(instance: Instance, message: WorkerToPool): void {
    if (message.kind !== 'result' && message.kind !== 'run_failed') return;
    const pending = instance.pending;
    if (!pending || pending.id !== message.id) return;
    if (message.kind === 'result') {
      pending.onFeedsReturned?.(message.feeds);
      pending.resolve({ outputs: message.outputs, ...(message.cacheBytes !== undefined && { cacheBytes: message.cacheBytes }) });
    } else pending.reject(new ApiError('internal', `inference failed: ${message.message}`));
    this.release(instance);
  }

  private onExit(instance: Instance, exitCode: number): void {
    if (this.closed || instance.state === 'closed') return;
    instance.state = 'closed';
    this.options.logger?.error({ instance: instance.index, exitCode }, 'session worker died; replacing it');
    instance.pending?.reject(new ApiError('internal', `the inference worker exited (code ${exitCode}) during the run`));
    instance.pending = undefined;
    this.respawn(instance.index);
  }

  /** Starts a replacement, retrying with backoff; while none runs at all, runs fail fast. */
  private respawn(index: number, attempt = 0): void {
    if (this.closed) return;
    const started = startWorker(this.options, index);
    started.ready.then(
      () => {
        if (this.closed) return void started.worker.terminate();
        this.replacements++;
        this.respawnFailure = undefined;
        this.adopt(started.worker, index);
        this.options.onWorkerReplaced?.();
      },
      (error: unknown) => {
        const delay = Math.min(RESPAWN_DELAY_MS * 2 ** attempt, MAX_RESPAWN_DELAY_MS);
        this.options.logger?.error({ err: error, instance: index, retry_in_ms: delay }, 'replacement worker failed to load');
        this.respawnFailure = error instanceof Error ? error.message : String(error);
        if (!this.instances.some((i) => i.state === 'idle' || i.state === 'busy')) {
          for (const waiter of this.allWaiters()) waiter(this.noWorkerError());
        }
        setTimeout(() => this.respawn(index, attempt + 1), delay).unref();
      },
    );
  }

  private noWorkerError(): ApiError {
    return new ApiError('not_ready', `no session worker is running (replacing a dead one failed: ${this.respawnFailure})`, { retryAfterSeconds: 5 });
  }
}

/**
 * Feeds travel to the worker by transfer, which empties the sender's buffers: a tensor sent
 * twice (its buffer detached, not yet handed back) would reach the worker empty. Refused here,
 * before an instance is taken.
 */
function checkFeeds(feeds: NamedTensors): void {
  for (const [name, tensor] of Object.entries(feeds)) {
    const elements = tensor.dims.reduce((a, b) => a * b, 1);
    if (elements > 0 && tensor.data.length === 0) throw new Error(`feed '${name}' has no data: its buffer was transferred to a worker by an earlier run (send a copy)`);
  }
}

function startWorker(options: WorkerPoolOptions, index: number): { worker: Worker; ready: Promise<LoadedInfo> } {
  const { instances: _instances, logger: _logger, onWorkerReplaced: _onReplaced, ...workerOptions } = options;
  const worker = new Worker(workerUrl, {
    workerData: workerOptions satisfies SessionWorkerOptions,
    name: `session-${index}`,
    argv: workerArgv,
  });
  const ready = new Promise<LoadedInfo>((resolve, reject) => {
    const onExit = (code: number) =>
      reject(new Error(`session worker exited (code ${code}) while loading ${Object.values(options.sessions).join(', ')}`));
    worker.once('error', reject);
    worker.once('exit', onExit);
    worker.once('message', (message: WorkerToPool) => {
      worker.off('error', reject);
      worker.off('exit', onExit);
      if (message.kind === 'ready') resolve(message);
      else if (message.kind === 'load_failed') reject(new Error(message.message));
      else reject(new Error(`unexpected first message from session worker: ${message.kind}`));
    });
  });
  return { worker, ready };
}
