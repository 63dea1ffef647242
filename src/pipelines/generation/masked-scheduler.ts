/**
 * Continuous batching for a decoder with an attention mask and position ids (BLIP's contract;
 * docs/architecture.md, "Generation"): rows of different lengths share every decode step. A
 * batch lives in one worker (its cache there); requests that arrive while it runs are prefilled
 * together in their own call (`prefillSession`, their prompts left-padded to the longest) and
 * spliced into the batch at the next step boundary (`mergeFrom`: the shorter side's self-attention
 * pasts left-padded, mask 0 over the padding, each row its own position ids). Rows leave at the
 * step after they finish (`keepRows`), and leading positions no remaining row needs are cut
 * (`trimLeft`). There is at most one batch per worker instance; a new request goes to the batch
 * with the fewest rows, or starts one on an idle instance.
 */
import type { PlainTensor } from '../../models/session/tensor.js';
import type { CacheStep } from '../../models/session/worker-protocol.js';
import { concatRows, DecodeScheduler, type DecoderBase, type GenerationEvents, type Row, type SchedulerLimits } from './decode-scheduler.js';

export interface MaskedDecoder extends DecoderBase {
  /** The first step over a prompt (no pasts in; every present out): e.g. `decoder_model`. */
  prefillSession: string;
  /** Every later step: e.g. `decoder_with_past_model`. */
  stepSession: string;
  /** Past input → present output, self-attention and cross-attention alike. */
  pastToPresent: Record<string, string>;
  /** The self-attention pasts (they grow by a position per step; the others keep their length). */
  growingPasts: string[];
  /** The encoder output the prefill reads. */
  encoderInput: string;
  padTokenId: number;
  /** The number of instances the pool runs: at most one batch each. */
  instances: number;
}

/** A row in a batch: how many positions of the cache are its own (the rest, on the left, padding). */
interface BatchRow {
  row: Row;
  length: number;
}

/** Newcomers prefilled in a cache of their own, waiting to be merged into the batch's. */
interface Prefilled {
  cacheId: string;
  rows: BatchRow[];
  length: number;
}

interface Batch {
  /** The batch cache's id in its worker (a prefill cache's id when it started the batch). */
  cacheId: string | undefined;
  instance: number | undefined;
  /** In the cache's row order. */
  rows: BatchRow[];
  /** The cache's positions (every row right-aligned in them). */
  length: number;
  /** Admitted rows waiting for the next prefill. */
  joining: Row[];
  running: boolean;
  cacheBytes: number;
  formingTimer?: NodeJS.Timeout;
}

export class MaskedScheduler extends DecodeScheduler {
  private readonly batches = new Set<Batch>();
  private nextCacheId = 1;

  constructor(
    protected override readonly decoder: MaskedDecoder,
    limits: SchedulerLimits,
    events?: GenerationEvents,
  ) {
    super(decoder, limits, events);
  }

  protected override groups(): { count: number; cacheBytes: number } {
    return { count: this.batches.size, cacheBytes: [...this.batches].reduce((sum, b) => sum + b.cacheBytes, 0) };
  }

  protected override place(row: Row): void {
    const size = (b: Batch) => b.rows.filter((r) => !r.row.finish).length + b.joining.length;
    const open = [...this.batches].filter((b) => size(b) < this.limits.maxCohortRows).sort((a, b) => size(a) - size(b));
    let batch = this.batches.size < this.decoder.instances && (open.length === 0 || size(open[0]!) > 0) ? undefined : open[0];
    if (!batch) {
      batch = { cacheId: undefined, instance: undefined, rows: [], length: 0, joining: [], running: false, cacheBytes: 0 };
      this.batches.add(batch);
    }
    batch.joining.push(row);
    this.startWhenFormed(batch);
  }

  protected override onExpectedArrived(): void {
    for (const batch of this.batches) this.startWhenFormed(batch);
  }

  /** A batch that is not running starts once nothing it could take is still being encoded (or the wait is over). */
  private startWhenFormed(batch: Batch): void {
    if (batch.running) return;
    if (this.expected > 0 && batch.joining.length < this.limits.maxCohortRows) {
      batch.formingTimer ??= setTimeout(() => this.start(batch), this.limits.maxFormingMs ?? 0);
      return;
    }
    this.start(batch);
  }

  private start(batch: Batch): void {
    if (batch.running) return;
    batch.running = true;
    clearTimeout(batch.formingTimer);
    batch.formingTimer = undefined;
    setImmediate(() => void this.run(batch));
  }

  private async run(batch: Batch): Promise<void> {
    let merging: Prefilled | undefined;
    try {
      while (batch.rows.some((r) => !r.row.finish) || batch.joining.length > 0 || merging) {
        if (batch.joining.length > 0 && !merging) {
          const { logits, ...prefilled } = await this.prefill(batch, batch.joining.splice(0));
          this.sampleAll(prefilled.rows, logits);
          merging = prefilled;
          if (!batch.rows.some((r) => !r.row.finish)) {
            // Nothing left to merge into: the newcomers' cache becomes the batch's.
            if (batch.cacheId !== undefined) this.decoder.pool.releaseCache(batch.instance!, batch.cacheId);
            Object.assign(batch, { cacheId: merging.cacheId, rows: merging.rows, length: merging.length });
            merging = undefined;
          } else if (merging.rows.every((r) => r.row.finish)) {
            this.decoder.pool.releaseCache(batch.instance!, merging.cacheId);
            merging = undefined;
          }
        }
        if (!batch.rows.some((r) => !r.row.finish) && !merging) continue;
        // Sampled here, not inside the call: a row's caller resumes after the batch's bookkeeping.
        const logits = await this.step(batch, merging);
        this.sampleAll(batch.rows, logits);
        merging = undefined;
      }
    } catch (error) {
      for (const { row } of [...batch.rows, ...(merging?.rows ?? [])]) if (!row.finish) this.fail(row, error);
      for (const row of batch.joining.splice(0)) this.fail(row, error);
      if (merging && batch.instance !== undefined) this.decoder.pool.releaseCache(batch.instance, merging.cacheId);
    } finally {
      if (batch.instance !== undefined && batch.cacheId !== undefined) this.decoder.pool.releaseCache(batch.instance, batch.cacheId);
      this.batches.delete(batch);
      this.reportCacheBytes();
    }
  }

  /** The first step of newcomers, in a cache of their own on the batch's instance; samples their first tokens. */
  private async prefill(batch: Batch, newcomers: Row[]): Promise<Prefilled & { logits: Float32Array }> {
    const { decoder } = this;
    const sequences = newcomers.map((row) => [decoder.startTokenId, ...(row.request.promptIds ?? [])]);
    const length = Math.max(...sequences.map((s) => s.length));
    const padding = (s: number[]) => length - s.length;
    const states = concatRows(newcomers.map((row) => row.request.encoderStates));
    const encoderTokens = states.dims[1]!;
    const cacheId = `batch-cache-${this.nextCacheId++}`;
    const started = performance.now();
    const { outputs, instance, cacheBytes } = await decoder.pool.step(
      decoder.prefillSession,
      {
        input_ids: int64(sequences.map((s) => [...Array(padding(s)).fill(decoder.padTokenId), ...s])),
        attention_mask: int64(sequences.map((s) => [...Array(padding(s)).fill(0), ...s.map(() => 1)])),
        position_ids: int64(sequences.map((s) => [...Array(padding(s)).fill(0), ...s.map((_, i) => i)])),
        [decoder.encoderInput]: states,
        encoder_attention_mask: ones(newcomers.length, encoderTokens),
      },
      ['logits'],
      this.cacheStep(cacheId, { start: true }),
      batch.instance,
    );
    batch.instance = instance;
    if (batch.cacheId === undefined) decoder.cacheSizer?.observe(cacheId, length, newcomers.length, cacheBytes);
    this.recordStep(newcomers.length, (performance.now() - started) / 1000);
    const rows = newcomers.map((row, i) => ({ row, length: sequences[i]!.length }));
    return { cacheId, rows, length, logits: outputs.logits!.data as Float32Array };
  }

  /** One decode step for every live row of the batch, newcomers spliced in after them. */
  private async step(batch: Batch, merging: Prefilled | undefined): Promise<Float32Array> {
    const { decoder } = this;
    const live = batch.rows.filter((r) => !r.row.finish);
    const keepRows = live.length === batch.rows.length ? undefined : live.map((r) => batch.rows.indexOf(r));
    const kept = Math.max(0, ...live.map((r) => r.length));
    const trimLeft = batch.length - kept;
    const rows = [...live, ...(merging?.rows ?? [])];
    const length = Math.max(kept, merging?.length ?? 0);
    const encoderTokens = (rows[0]!.row.request.encoderStates.dims[1])!;
    const started = performance.now();
    const { outputs, cacheBytes } = await decoder.pool.step(
      decoder.stepSession,
      {
        input_ids: int64(rows.map((r) => [r.row.tokens.at(-1)!])),
        // The cache's positions (padding 0, the row's own 1) and the new token's.
        attention_mask: int64(rows.map((r) => [...Array(length - r.length).fill(0), ...Array(r.length + 1).fill(1)])),
        position_ids: int64(rows.map((r) => [r.length])),
        encoder_attention_mask: ones(rows.length, encoderTokens),
      },
      ['logits'],
      this.cacheStep(batch.cacheId!, { start: false, ...(keepRows && { keepRows }), ...(trimLeft > 0 && { trimLeft }), ...(merging && { mergeFrom: [merging.cacheId] }) }),
      batch.instance,
    );
    if (!merging && !keepRows && trimLeft === 0) decoder.cacheSizer?.observe(batch.cacheId!, length + 1, rows.length, cacheBytes);
    batch.cacheBytes = cacheBytes;
    this.reportCacheBytes();
    this.recordStep(rows.length, (performance.now() - started) / 1000);
    for (const r of rows) r.length++;
    Object.assign(batch, { rows, length: length + 1 });
    return outputs.logits!.data as Float32Array;
  }

  /** Each unfinished row's next token from its logits row; rows that finish leave now (their cache rows at the next step). */
  private sampleAll(rows: BatchRow[], logits: Float32Array): void {
    const vocab = logits.length / rows.length;
    rows.forEach(({ row }, i) => {
      if (row.finish) return;
      this.advance(row, logits.subarray(i * vocab, (i + 1) * vocab));
      if (row.finish) this.finish(row);
    });
  }

  private cacheStep(id: string, step: Partial<CacheStep> & { start: boolean }): CacheStep {
    return { id, pastToPresent: this.decoder.pastToPresent, growingPasts: this.decoder.growingPasts, lastPositionOf: ['logits'], ...step };
  }
}

function int64(rows: number[][]): PlainTensor {
  return { type: 'int64', dims: [rows.length, rows[0]!.length], data: BigInt64Array.from(rows.flat().map(BigInt)) };
}

function ones(rows: number, columns: number): PlainTensor {
  return { type: 'int64', dims: [rows, columns], data: new BigInt64Array(rows * columns).fill(1n) };
}
