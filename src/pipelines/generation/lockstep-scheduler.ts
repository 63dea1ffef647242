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
}

export interface SchedulerLimits {
  /** Rows decoding at once, over all cohorts. */
  maxActiveRows: number;
  /** Rows in one cohort (one session call per step). */
  maxCohortRows: number;
  /** Requests waiting for a free row; more are refused with `overloaded`. */
  maxQueued: number;
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
}

export interface SchedulerStats {
  activeRows: number;
  queued: number;
  cohorts: number;
  /** Rows in each session call so far (decode batch sizes). */
  stepRows: number[];
}

interface Row {
  request: SequenceRequest;
  /** performance.now() at submit, then at each token. */
  lastEventAt: number;
  sampler: ReturnType<typeof createSampler>;
  tokens: number[];
  finish?: FinishReason;
  resolve: (result: SequenceResult) => void;
  reject: (error: Error) => void;
}

interface Cohort {
  id: string;
  rows: Row[];
  started: boolean;
}

export class LockstepScheduler {
  private readonly cohorts = new Set<Cohort>();
  private forming: Cohort | undefined;
  private readonly queue: Row[] = [];
  private activeRows = 0;
  private nextCohortId = 1;
  private readonly stepRows: number[] = [];

  constructor(
    private readonly decoder: LockstepDecoder,
    private readonly limits: SchedulerLimits,
    private readonly events: GenerationEvents = {},
  ) {}

  submit(request: SequenceRequest): Promise<SequenceResult> {
    request.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const row: Row = { request, lastEventAt: performance.now(), sampler: createSampler(request.sampling ?? {}, this.decoder.eosTokenIds), tokens: [], resolve, reject };
      if (this.activeRows < this.limits.maxActiveRows) return this.admit(row);
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
        this.reportOccupancy();
        resolve({ tokens: [], finishReason: 'cancelled' });
      }, { once: true });
    });
  }

  get stats(): SchedulerStats {
    return { activeRows: this.activeRows, queued: this.queue.length, cohorts: this.cohorts.size, stepRows: [...this.stepRows] };
  }

  private admit(row: Row): void {
    this.activeRows++;
    if (!this.forming || this.forming.rows.length >= this.limits.maxCohortRows) {
      const cohort: Cohort = { id: `cohort-${this.nextCohortId++}`, rows: [], started: false };
      this.forming = cohort;
      this.cohorts.add(cohort);
      // Started on the next turn of the event loop, so that requests arriving together join it.
      setImmediate(() => void this.run(cohort));
    }
    this.forming.rows.push(row);
    this.reportOccupancy();
  }

  private reportOccupancy(): void {
    this.events.onOccupancy?.(this.activeRows, this.queue.length);
  }

  private async run(cohort: Cohort): Promise<void> {
    cohort.started = true;
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
        const { outputs, instance: used } = await decoder.pool.step(
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
        this.stepRows.push(live.length);
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
    this.leave();
  }

  private fail(row: Row, error: Error): void {
    row.reject(error);
    this.leave();
  }

  /** A row left: a waiting request takes its place. */
  private leave(): void {
    this.activeRows--;
    const next = this.queue.shift();
    if (next) this.admit(next);
    else this.reportOccupancy();
  }
}

/** Rows of [1, …] tensors stacked into one [n, …] tensor. */
function concatRows(rows: PlainTensor[]): PlainTensor {
  const first = rows[0]!;
  const size = first.data.length;
  const data = new Float32Array(size * rows.length);
  rows.forEach((row, i) => data.set(row.data as Float32Array, i * size));
  return { type: 'float32', dims: [rows.length, ...first.dims.slice(1)], data };
}
