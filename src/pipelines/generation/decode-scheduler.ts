/**
 * What every decode scheduler shares (docs/architecture.md, "Generation"): admission of
 * sequences under the row, cache-byte and queue bounds; requests announced while their image is
 * encoded (`expect`); each row's sampling, stop rules and timing events; the stats. A subclass
 * decides where an admitted row goes (`place`) and runs the session calls:
 * LockstepScheduler (cohorts of equal length, for decoders without a mask) and MaskedScheduler
 * (rows of any length in one batch, for decoders with an attention mask and position ids).
 */
import { ApiError } from '../../errors.js';
import type { PlainTensor } from '../../models/session/tensor.js';
import type { WorkerPool } from '../../models/session/worker-pool.js';
import type { CacheSizer } from './cache-sizer.js';
import { BeamSearch, type BeamOptions } from './beam-search.js';
import { createSampler, type SamplingOptions } from './sampling.js';

/** What any scheduler needs of a decoder. */
export interface DecoderBase {
  pool: Pick<WorkerPool, 'step' | 'releaseCache'>;
  /** What an encoder-decoder's sequence starts with; none for a decoder-only model (its prompt is the whole prefix). */
  startTokenId?: number;
  eosTokenIds: readonly number[];
  /** Learns what a row's cache holds (shared by the warm-up and the serving scheduler). */
  cacheSizer?: CacheSizer;
}

export interface SchedulerLimits {
  /** Rows decoding at once, over all groups. */
  maxActiveRows: number;
  /** Rows in one session call. */
  maxCohortRows: number;
  /** Requests waiting for a free row; more are refused with `overloaded`. */
  maxQueued: number;
  /**
   * Bytes the rows' caches may hold in the workers (each row counted at its longest: its prompt
   * and max_new_tokens); beyond, requests wait as for a row. Unbounded when unset.
   */
  maxCacheBytes?: number;
  /**
   * How long a new group waits for requests that are still being encoded (`expect`) to join it,
   * at most; it starts at once when none is, or when it is full.
   */
  maxFormingMs?: number;
}

export interface SequenceRequest {
  /** An encoder-decoder row's encoder output: [1, tokens, hidden]. */
  encoderStates?: PlainTensor;
  /** Tokens after the start token that the sequence continues (a prompt); none by default. */
  promptIds?: readonly number[];
  /**
   * A decoder-only row's prompt as the decoder reads it: `promptIds`' embeddings, [1, prompt length, hidden]
   * (image features in place of the image tokens' embeddings).
   */
  promptEmbeds?: PlainTensor;
  maxNewTokens: number;
  sampling?: SamplingOptions;
  /** Beam search (`numBeams` > 1): the sequence decodes as that many rows; tokens reach `onToken` when it is over. */
  beams?: BeamOptions;
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
  /** The bytes the rows' caches hold in the workers, after each step and each group's end. */
  onCacheBytes?(bytes: number): void;
}

export interface SchedulerStats {
  activeRows: number;
  queued: number;
  /** Groups decoding (cohorts or batches). */
  cohorts: number;
  /** Rows in each of the last session calls (decode batch sizes; the last STEP_HISTORY). */
  stepRows: number[];
  /** What the caches hold in the workers now, and what the active rows may grow to. */
  cacheBytes: number;
  reservedCacheBytes: number;
}

/** One row of a decoder call: a sequence, or beam `beam` of a sequence's beam search. */
export interface Lane {
  row: Row;
  beam: number;
}

export interface Row {
  request: SequenceRequest;
  /** performance.now() at submit, then at each token. */
  lastEventAt: number;
  sampler: ReturnType<typeof createSampler>;
  tokens: number[];
  /** The cache bytes this row may grow to (0 until the sizer has learned). */
  reservedBytes: number;
  /** Rows of the decoder's batch it takes: its beams (1 without beam search). */
  lanes: number;
  search?: BeamSearch;
  /** It has had a token (the first-token event is behind it). */
  timed?: boolean;
  finish?: FinishReason;
  resolve: (result: SequenceResult) => void;
  reject: (error: Error) => void;
}

const mib = (bytes: number) => Math.ceil(bytes / 2 ** 20);
/** Decode batch sizes kept for `stats` (the metrics keep the whole distribution). */
const STEP_HISTORY = 256;

/** A group of rows (a cohort, a batch) before its first call. */
export interface FormingGroup {
  started: boolean;
  /** Set while it waits for requests still being encoded. */
  formingTimer?: NodeJS.Timeout;
}

export abstract class DecodeScheduler<D extends DecoderBase = DecoderBase> {
  private readonly queue: Row[] = [];
  private activeRows = 0;
  private reservedBytes = 0;
  private readonly stepRows: number[] = [];
  /** Requests on their way here (being encoded): a forming group waits for them. */
  private expected = 0;
  /** Groups waiting for them, and how each runs. */
  private readonly waiting = new Map<FormingGroup, () => Promise<void>>();

  constructor(
    protected readonly decoder: D,
    protected readonly limits: SchedulerLimits,
    protected readonly events: GenerationEvents = {},
  ) {}

  /** Puts an admitted row into a group (and starts that group's calls when it should). */
  protected abstract place(row: Row): void;
  /** Groups decoding now, and the bytes their caches hold. */
  protected abstract groups(): { count: number; cacheBytes: number };
  /** Rejects what this decoder cannot do (a prompt for a lockstep decoder, …). */
  protected check(_request: SequenceRequest): void {}

  submit(request: SequenceRequest): Promise<SequenceResult> {
    request.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      this.check(request);
      const longest = (request.promptIds?.length ?? 0) + request.maxNewTokens;
      const lanes = request.beams?.numBeams ?? 1;
      const reservedBytes = lanes * (this.decoder.cacheSizer?.rowBytes(longest) ?? 0);
      const { maxCacheBytes } = this.limits;
      if (maxCacheBytes !== undefined && reservedBytes > maxCacheBytes) {
        return reject(new ApiError('invalid_request', `${longest} tokens need ~${mib(reservedBytes)} MiB of decoder cache; this model may hold ${mib(maxCacheBytes)} MiB (ask for fewer tokens)`));
      }
      const prefix = this.prefixOf(request);
      const sampling = request.sampling ?? {};
      const search = lanes > 1 ? new BeamSearch(request.beams!, sampling, this.decoder.eosTokenIds, prefix, request.maxNewTokens) : undefined;
      const row: Row = { request, lastEventAt: performance.now(), sampler: createSampler(sampling, this.decoder.eosTokenIds, prefix), tokens: [], reservedBytes, lanes, ...(search && { search }), resolve, reject };
      if (this.queue.length === 0 && this.hasRoomFor(row)) return this.admit(row);
      if (this.queue.length >= this.limits.maxQueued) {
        return reject(new ApiError('overloaded', `${this.activeRows} sequences are being generated and ${this.queue.length} wait; try again shortly`, { retryAfterSeconds: 1 }));
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
   * A request is on its way (its image is being encoded): a forming group waits for it, up to
   * `maxFormingMs`. Call the returned function when it is submitted or given up.
   */
  expect(): () => void {
    this.expected++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.expected--;
      if (this.expected === 0) for (const [group, run] of this.waiting) this.start(group, run);
    };
  }

  /**
   * Runs a group (on the next turn of the event loop, so requests arriving together still join)
   * once it is `full` or no request is being encoded; else when they arrive, or after
   * `maxFormingMs`, whichever comes first.
   */
  protected startWhenFormed(group: FormingGroup, full: boolean, run: () => Promise<void>): void {
    if (group.started) return;
    if (full || this.expected === 0) return this.start(group, run);
    this.waiting.set(group, run);
    group.formingTimer ??= setTimeout(() => this.start(group, run), this.limits.maxFormingMs ?? 0);
  }

  private start(group: FormingGroup, run: () => Promise<void>): void {
    if (group.started) return;
    group.started = true;
    clearTimeout(group.formingTimer);
    this.waiting.delete(group);
    setImmediate(() => void run());
  }

  get stats(): SchedulerStats {
    const { count, cacheBytes } = this.groups();
    return { activeRows: this.activeRows, queued: this.queue.length, cohorts: count, stepRows: [...this.stepRows], cacheBytes, reservedCacheBytes: this.reservedBytes };
  }

  /** A session call of `rows` rows took `seconds`. */
  protected recordStep(rows: number, seconds: number): void {
    this.stepRows.push(rows);
    if (this.stepRows.length > STEP_HISTORY) this.stepRows.shift();
    this.events.onStep?.(rows, seconds);
  }

  protected reportCacheBytes(): void {
    this.events.onCacheBytes?.(this.groups().cacheBytes);
  }

  /** Samples a row's next token from its logits and decides whether the row is done. */
  protected advance(row: Row, logits: Float32Array): void {
    const { request } = row;
    if (request.signal?.aborted) return void (row.finish = 'cancelled');
    const token = row.sampler.next(logits, row.tokens);
    if (this.decoder.eosTokenIds.includes(token)) return void (row.finish = 'eos');
    this.timeToken(row);
    row.tokens.push(token);
    if (request.onToken?.(token) === true) row.finish = 'stop';
    else if (row.tokens.length >= request.maxNewTokens) row.finish = 'length';
  }

  protected finish(row: Row): void {
    row.resolve({ tokens: row.tokens, finishReason: row.finish! });
    this.leave(row);
  }

  protected fail(row: Row, error: unknown): void {
    row.reject(error instanceof Error ? error : new Error(String(error)));
    this.leave(row);
  }

  /** The positions before a sequence's first new token: the start token (if the decoder has one) and the prompt. */
  protected prefixOf(request: SequenceRequest): number[] {
    const start = this.decoder.startTokenId;
    return [...(start === undefined ? [] : [start]), ...(request.promptIds ?? [])];
  }

  /** The token a lane feeds the next call: its sequence's last, or its beam's (the prefix's last before any). */
  protected laneToken(lane: Lane): number {
    const tokens = lane.row.search ? lane.row.search.beams[lane.beam]!.tokens : lane.row.tokens;
    const token = tokens.at(-1) ?? this.prefixOf(lane.row.request).at(-1);
    if (token === undefined) throw new Error('a sequence with no start token and no prompt');
    return token;
  }

  /**
   * After a call over `lanes` (each row's lanes contiguous, in beam order), advances every row by
   * its logits and returns the next call's lanes, each with the index of the lane it continues
   * (beams that share a parent repeat it; finished rows are gone, their callers answered).
   */
  protected advanceAll(lanes: readonly Lane[], logits: Float32Array): (Lane & { source: number })[] {
    const vocab = logits.length / lanes.length;
    const next: (Lane & { source: number })[] = [];
    for (let first = 0; first < lanes.length; ) {
      const { row } = lanes[first]!;
      let count = 1;
      while (first + count < lanes.length && lanes[first + count]!.row === row) count++;
      const rows = Array.from({ length: count }, (_, i) => logits.subarray((first + i) * vocab, (first + i + 1) * vocab));
      this.advanceRow(row, rows).forEach((parent, beam) => next.push({ row, beam, source: first + parent }));
      first += count;
    }
    return next;
  }

  /** A row's next token(s) from its lanes' logits; returns the parent lane of each next lane ([] once it finished). */
  private advanceRow(row: Row, logits: Float32Array[]): number[] {
    if (row.finish) return [];
    if (!row.search) {
      this.advance(row, logits[0]!);
      if (!row.finish) return [0];
      this.finish(row);
      return [];
    }
    if (row.request.signal?.aborted) {
      row.finish = 'cancelled';
      this.finish(row);
      return [];
    }
    const { parents, done } = row.search.step(logits);
    this.timeToken(row);
    if (!done) return parents;
    // The best hypothesis, token by token, through the caller's stop rules (its text streams now).
    const best = row.search.best();
    for (const token of best.tokens) {
      row.tokens.push(token);
      if (row.request.onToken?.(token) === true) {
        row.finish = 'stop';
        break;
      }
    }
    row.finish ??= best.finishReason;
    this.finish(row);
    return [];
  }

  /** Time-to-first-token and inter-token events for a row that took a step. */
  private timeToken(row: Row): void {
    const now = performance.now();
    if (!row.timed) this.events.onFirstToken?.((now - row.lastEventAt) / 1000);
    else this.events.onNextToken?.((now - row.lastEventAt) / 1000);
    row.timed = true;
    row.lastEventAt = now;
  }

  private hasRoomFor(row: Row): boolean {
    if (this.activeRows + row.lanes > this.limits.maxActiveRows && this.activeRows > 0) return false;
    const { maxCacheBytes } = this.limits;
    return maxCacheBytes === undefined || this.activeRows === 0 || this.reservedBytes + row.reservedBytes <= maxCacheBytes;
  }

  private admit(row: Row): void {
    this.activeRows += row.lanes;
    this.reservedBytes += row.reservedBytes;
    this.reportOccupancy();
    this.place(row);
  }

  /** A row left: waiting requests take its place, in order, as far as there is room. */
  private leave(row: Row): void {
    this.activeRows -= row.lanes;
    this.reservedBytes -= row.reservedBytes;
    this.admitWaiting();
  }

  private admitWaiting(): void {
    while (this.queue.length > 0 && this.hasRoomFor(this.queue[0]!)) this.admit(this.queue.shift()!);
    this.reportOccupancy();
  }

  private reportOccupancy(): void {
    this.events.onOccupancy?.(this.activeRows, this.queue.length);
  }
}

/** Rows of [1, …] tensors stacked into one [n, …] tensor. */
export function concatRows(rows: PlainTensor[]): PlainTensor {
  const first = rows[0]!;
  const size = first.data.length;
  const data = new Float32Array(size * rows.length);
  rows.forEach((row, i) => data.set(row.data as Float32Array, i * size));
  return { type: 'float32', dims: [rows.length, ...first.dims.slice(1)], data };
}
