/**
 * Step-level batching for a decoder without an attention mask (vit-gpt2): rows must share their
 * past length, so they decode in lockstep cohorts. A request joins the newest cohort while it has
 * not taken its first step (requests arriving together share every step), else starts the next
 * one; each cohort runs one session call per step for all its rows, its KV cache kept in the
 * worker that runs it (WorkerPool.step). A row leaves at the step boundary after it finishes
 * (end of sequence, length, a stop its caller reports) or its caller goes away; the cohort's cache
 * is freed with its last row. Active rows are bounded; beyond that requests wait, and beyond the
 * queue bound they get `overloaded`.
 *
 * A decoder with a mask can later batch rows of different lengths in one call: a scheduler with
 * this interface (`submit`, `stats`) that merges cohorts, padding on the left.
 */
import { ApiError } from '../../errors.js';
import type { PlainTensor } from '../../models/session/tensor.js';
import type { WorkerPool } from '../../models/session/worker-pool.js';
import type { CacheSizer } from './cache-sizer.js';
import { createSampler, type SamplingOptions } from './sampling.js';

export interface LockstepDecoder {
  pool: Pick<WorkerPool, 'step' | 'releaseCache'>;
  /** The decoder's session name in the pool. */
  session: string;
  /** Past input → present output, e.g. past_key_values.0.key → present.0.key. */
  pastToPresent: Record<string, string>;
  /** The encoder output every step reads (kept in the worker after the first step). */
  encoderInput: string;
  /** A session that computes more kept inputs from it at the start (the decoder's encoder projections). */
  precompute?: string;
  startTokenId: number;
  eosTokenIds: readonly number[];
  /** Learns what a row's cache holds (shared by the warm-up and the serving scheduler). */
  cacheSizer?: CacheSizer;
}

export interface SchedulerLimits {
  /** Rows decoding at once, over all cohorts. */
  maxActiveRows: number;
  /** Rows in one cohort (one session call per step). */
  maxCohortRows: number;
  /** Requests waiting for a free row; more are refused with `overloaded`. */
  maxQueued: number;
  /**
   * Bytes the rows' caches may hold in the workers, over all cohorts (each row counted at its
   * longest: its max_new_tokens); beyond, requests wait as for a row. Unbounded when unset.
   */
  maxCacheBytes?: number;
  /**
   * How long a new cohort waits for requests that are still being encoded (`expect`) to join it,
   * at most; it starts at once when none is, or when it is full.
   */
  maxFormingMs?: number;
}

export interface SequenceRequest {
  /** This row's encoder output: [1, tokens, hidden]. */
  encoderStates: PlainTensor;
  maxNewTokens: number;
  sampling?: SamplingOptions;
  /** Called with each new token; returning true ends the sequence (a stop string was reached). */
  onToken?: (token: number) => boolean | void;
  signal?: AbortSignal;
}

export type FinishReason = 'eos' | 'length' | 'stop' | 'cancelled';

export interface SequenceResult {
  tokens: number[];
  finishReason: FinishReason;
}

/** What metrics watch (all optional). */
export interface GenerationEvents {
  /** A session call of `rows` rows took `seconds`. */
  onStep?(rows: number, seconds: number): void;
  /** A sequence's first token, `seconds` after it was submitted (time to first token). */
  onFirstToken?(seconds: number): void;
  /** A later token, `seconds` after the sequence's previous one. */
  onNextToken?(seconds: number): void;
  /** Rows decoding and requests waiting, after each change. */
  onOccupancy?(active: number, queued: number): void;
  /** The bytes the rows' caches hold in the workers, after each step and each cohort's end. */
  onCacheBytes?(bytes: number): void;
}

export interface SchedulerStats {
  activeRows: number;
  queued: number;
  cohorts: number;
  /** Rows in each of the last session calls (decode batch sizes; the last STEP_HISTORY). */
  stepRows: number[];
  /** What the caches hold in the workers now, and what the active rows may grow to. */
  cacheBytes: number;
  reservedCacheBytes: number;
}

interface Row {
  request: SequenceRequest;
  /** performance.now() at submit, then at each token. */
  lastEventAt: number;
  sampler: ReturnType<typeof createSampler>;
  tokens: number[];
  /** The cache bytes this row may grow to (0 until the sizer has learned). */
  reservedBytes: number;
  finish?: FinishReason;
  resolve: (result: SequenceResult) => void;
  reject: (error: Error) => void;
}

interface Cohort {
  id: string;
  rows: Row[];
  started: boolean;
  /** What its cache holds in the worker (reported after each step). */
  cacheBytes: number;
  /** Set while it waits for expected requests to join. */
  formingTimer?: NodeJS.Timeout;
}

export class LockstepScheduler {
  private readonly cohorts = new Set<Cohort>();
  private forming: Cohort | undefined;
  private readonly queue: Row[] = [];
  private activeRows = 0;
  private nextCohortId = 1;
  private readonly stepRows: number[] = [];
  private reservedBytes = 0;
  /** Requests on their way here (being encoded): a forming cohort waits for them. */
  private expected = 0;

  constructor(
    private readonly decoder: LockstepDecoder,
    private readonly limits: SchedulerLimits,
    private readonly events: GenerationEvents = {},
  ) {}

  submit(request: SequenceRequest): Promise<SequenceResult> {
    request.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const reservedBytes = this.decoder.cacheSizer?.rowBytes(request.maxNewTokens) ?? 0;
      const { maxCacheBytes } = this.limits;
      if (maxCacheBytes !== undefined && reservedBytes > maxCacheBytes) {
        return reject(new ApiError('invalid_request', `${request.maxNewTokens} new tokens need ~${mib(reservedBytes)} MiB of decoder cache; this model may hold ${mib(maxCacheBytes)} MiB (ask for fewer tokens)`));
      }
      const row: Row = { request, lastEventAt: performance.now(), sampler: createSampler(request.sampling ?? {}, this.decoder.eosTokenIds), tokens: [], reservedBytes, resolve, reject };
      if (this.queue.length === 0 && this.hasRoomFor(row)) return this.admit(row);
      if (this.queue.length >= this.limits.maxQueued) {
        return reject(new ApiError('overloaded', `${this.activeRows} captions are being generated and ${this.queue.length} wait; try again shortly`, { retryAfterSeconds: 1 }));
      }
      this.queue.push(row);
      this.reportOccupancy();
      // A caller that goes away while waiting leaves the queue at once.
      request.signal?.addEventListener('abort', () => {
        const index = this.queue.indexOf(row);
        if (index < 0) return;
        this.queue.splice(index, 1);
        this.admitWaiting();
        resolve({ tokens: [], finishReason: 'cancelled' });
      }, { once: true });
    });
  }

  /**
   * A request is on its way (its image is being encoded): a forming cohort waits for it, up to
   * `maxFormingMs`. Call the returned function when it is submitted or given up.
   */
  expect(): () => void {
    this.expected++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.expected--;
      if (this.expected === 0 && this.forming) this.startSoon(this.forming);
    };
  }

  get stats(): SchedulerStats {
    const cacheBytes = [...this.cohorts].reduce((sum, c) => sum + c.cacheBytes, 0);
    return { activeRows: this.activeRows, queued: this.queue.length, cohorts: this.cohorts.size, stepRows: [...this.stepRows], cacheBytes, reservedCacheBytes: this.reservedBytes };
  }

  private hasRoomFor(row: Row): boolean {
    if (this.activeRows >= this.limits.maxActiveRows) return false;
    const { maxCacheBytes } = this.limits;
    return maxCacheBytes === undefined || this.activeRows === 0 || this.reservedBytes + row.reservedBytes <= maxCacheBytes;
  }

  private admit(row: Row): void {
    this.activeRows++;
    this.reservedBytes += row.reservedBytes;
    if (!this.forming || this.forming.rows.length >= this.limits.maxCohortRows) {
      this.forming = { id: `cohort-${this.nextCohortId++}`, rows: [], started: false, cacheBytes: 0 };
      this.cohorts.add(this.forming);
    }
    const cohort = this.forming;
    cohort.rows.push(row);
    this.reportOccupancy();
    if (cohort.rows.length >= this.limits.maxCohortRows || this.expected === 0) this.startSoon(cohort);
    else cohort.formingTimer ??= setTimeout(() => this.startSoon(cohort), this.limits.maxFormingMs ?? 0);
  }

  /** Starts a forming cohort on the next turn of the event loop (requests arriving together still join). */
  private startSoon(cohort: Cohort): void {
    if (cohort.started) return;
    cohort.started = true;
    clearTimeout(cohort.formingTimer);
    setImmediate(() => void this.run(cohort));
  }

  private reportCacheBytes(): void {
    this.events.onCacheBytes?.(this.stats.cacheBytes);
  }

  private reportOccupancy(): void {
    this.events.onOccupancy?.(this.activeRows, this.queue.length);
  }

  private async run(cohort: Cohort): Promise<void> {
    if (this.forming === cohort) this.forming = undefined;
    const { decoder } = this;
    let live = cohort.rows;
    let instance: number | undefined;
    try {
      for (let step = 0; live.length > 0; step++) {
        const states = step === 0 ? concatRows(live.map((r) => r.request.encoderStates)) : undefined;
        const lastTokens = live.map((r) => r.tokens.at(-1) ?? decoder.startTokenId);
        const keepRows = step === 0 ? undefined : this.keptRowIndexes(cohort, live);
        const stepStarted = performance.now();
        const { outputs, instance: used, cacheBytes } = await decoder.pool.step(
          decoder.session,
          {
            input_ids: { type: 'int64', dims: [live.length, 1], data: BigInt64Array.from(lastTokens.map(BigInt)) },
            use_cache_branch: { type: 'bool', dims: [1], data: Uint8Array.of(step > 0 ? 1 : 0) },
            ...(states && { [decoder.encoderInput]: states }),
          },
          ['logits'],
          { id: cohort.id, pastToPresent: decoder.pastToPresent, start: step === 0, keepInputs: [decoder.encoderInput], ...(decoder.precompute && { precompute: decoder.precompute }), lastPositionOf: ['logits'], ...(keepRows && { keepRows }) },
          instance,
        );
        instance = used;
        cohort.cacheBytes = cacheBytes;
        decoder.cacheSizer?.observe(cohort.id, step, live.length, cacheBytes);
        this.reportCacheBytes();
        this.stepRows.push(live.length);
        if (this.stepRows.length > STEP_HISTORY) this.stepRows.shift();
        this.events.onStep?.(live.length, (performance.now() - stepStarted) / 1000);
        cohort.rows = live;
        const logits = outputs.logits!.data as Float32Array;
        const vocab = logits.length / live.length;
        live.forEach((row, i) => this.advance(row, logits.subarray(i * vocab, (i + 1) * vocab)));
        for (const row of live.filter((r) => r.finish)) this.finish(row);
        live = live.filter((r) => !r.finish);
      }
    } catch (error) {
      for (const row of live) this.fail(row, error instanceof Error ? error : new Error(String(error)));
    } finally {
      if (instance !== undefined) decoder.pool.releaseCache(instance, cohort.id);
      this.cohorts.delete(cohort);
      this.reportCacheBytes();
    }
  }

  /** Which of the rows the cache holds (the last step's) are still live; undefined when all are. */
  private keptRowIndexes(cohort: Cohort, live: Row[]): number[] | undefined {
    if (live.length === cohort.rows.length) return undefined;
    return live.map((row) => cohort.rows.indexOf(row));
  }

  private advance(row: Row, logits: Float32Array): void {
    const { request } = row;
    if (request.signal?.aborted) return void (row.finish = 'cancelled');
    const token = row.sampler.next(logits, row.tokens.length);
    if (this.decoder.eosTokenIds.includes(token)) return void (row.finish = 'eos');
    const now = performance.now();
    if (row.tokens.length === 0) this.events.onFirstToken?.((now - row.lastEventAt) / 1000);
    else this.events.onNextToken?.((now - row.lastEventAt) / 1000);
    row.lastEventAt = now;
    row.tokens.push(token);
    if (request.onToken?.(token) === true) row.finish = 'stop';
    else if (row.tokens.length >= request.maxNewTokens) row.finish = 'length';
  }

  private finish(row: Row): void {
    row.resolve({ tokens: row.tokens, finishReason: row.finish! });
    this.leave(row);
  }

  private fail(row: Row, error: Error): void {
    row.reject(error);
    this.leave(row);
  }

  /** A row left: waiting requests take its place, in order, as far as there is room. */
  private leave(row: Row): void {
    this.activeRows--;
    this.reservedBytes -= row.reservedBytes;
    this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.queue.length > 0 && this.hasRoomFor(this.queue[0]!)) this.admit(this.queue.shift()!);
    this.reportOccupancy();
  }
}

const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);
/** Decode batch sizes kept for `stats` (the metrics keep the whole distribution). */
const STEP_HISTORY = 256;

/** Rows of [1, …] tensors stacked into one [n, …] tensor. */
function concatRows(rows: PlainTensor[]): PlainTensor {
  const first = rows[0]!;
  const size = first.data.length;
  const data = new Float32Array(size * rows.length);
  rows.forEach((row, i) => data.set(row.data as Float32Array, i * size));
  return { type: 'float32', dims: [rows.length, ...first.dims.slice(1)], data };
}
