/**
 * Continuous batching for a decoder with an attention mask and position ids (BLIP's contract,
 * visual chat's; docs/architecture.md, "Generation"): rows of different lengths share every
 * decode step. What else the decoder reads comes from its `inputs` (masked-inputs.ts). A
 * batch lives in one worker (its cache there); requests that arrive while it runs are prefilled
 * together in their own call (`prefillSession`, their prompts left-padded to the longest) and
 * spliced into the batch at the next step boundary (`mergeFrom`: the shorter side's self-attention
 * pasts left-padded, mask 0 over the padding, each row its own position ids). Rows leave at the
 * step after they finish (`keepRows`), and leading positions no remaining row needs are cut
 * (`trimLeft`). There is at most one batch per worker instance; a new request goes to the batch
 * with the fewest rows, or starts one on an idle instance.
 */
import type { CacheStep } from '../../models/session/worker-protocol.js';
import { DecodeScheduler, type DecoderBase, type FormingGroup, type Lane, type Row } from './decode-scheduler.js';
import { encoderDecoderInputs, int64, type MaskedInputs } from './masked-inputs.js';

export interface MaskedDecoder extends DecoderBase {
  /** The first step over a prompt (empty pasts or none in; every present out): e.g. `decoder_model`. */
  prefillSession: string;
  /** Every later step: e.g. `decoder_with_past_model` (the same session as the prefill's for a merged decoder). */
  stepSession: string;
  /** Past input → present output, self-attention and cross-attention alike. */
  pastToPresent: Record<string, string>;
  /** The self-attention pasts (they grow by a position per step; the others keep their length). */
  growingPasts: string[];
  /** What the decoder reads besides mask and positions; default: BLIP's, from `encoderInput` and `padTokenId`. */
  inputs?: MaskedInputs;
  /** An encoder-decoder's encoder output, which the prefill reads. */
  encoderInput?: string;
  padTokenId?: number;
  /** The number of instances the pool runs: at most one batch each. */
  instances: number;
  /**
   * Cohorts instead of continuous batching: a batch takes newcomers only until its first call,
   * and later arrivals start another (what a decoder without a mask must do; for comparisons).
   */
  cohortsOnly?: boolean;
}

/** A lane in a batch: how many positions of the cache are its own (the rest, on the left, padding). */
interface BatchLane extends Lane {
  length: number;
}

/** The lanes of the next call, each with the cache row it continues. */
type NextLanes = (BatchLane & { source: number })[];

/** Newcomers prefilled in a cache of their own, waiting to be merged into the batch's. */
interface Prefilled {
  cacheId: string;
  /** Rows in its cache, and its positions. */
  rows: number;
  length: number;
  next: NextLanes;
}

interface Batch extends FormingGroup {
  /** The batch cache's id in its worker (a prefill cache's id when it started the batch). */
  cacheId: string | undefined;
  instance: number | undefined;
  /** Rows in the cache as the last call left them, and its positions (every lane right-aligned in them). */
  cacheRows: number;
  length: number;
  next: NextLanes;
  /** Admitted rows waiting for the next prefill. */
  joining: Row[];
  cacheBytes: number;
}

export class MaskedScheduler extends DecodeScheduler<MaskedDecoder> {
  private readonly batches = new Set<Batch>();
  private nextCacheId = 1;
  private readonly inputs: MaskedInputs;

  constructor(...args: ConstructorParameters<typeof DecodeScheduler<MaskedDecoder>>) {
    super(...args);
    const [decoder] = args;
    this.inputs = decoder.inputs ?? encoderDecoderInputs({ encoderInput: decoder.encoderInput ?? 'encoder_hidden_states', padTokenId: decoder.padTokenId ?? 0 });
  }

  protected override groups(): { count: number; cacheBytes: number } {
    return { count: this.batches.size, cacheBytes: [...this.batches].reduce((sum, b) => sum + b.cacheBytes, 0) };
  }

  protected override place(row: Row): void {
    const size = (b: Batch) => b.next.length + b.joining.reduce((sum, r) => sum + r.lanes, 0);
    if (this.decoder.cohortsOnly) {
      const forming = [...this.batches].find((b) => !b.started && size(b) < this.limits.maxCohortRows);
      const batch = forming ?? this.newBatch();
      batch.joining.push(row);
      return this.startWhenFormed(batch, batch.joining.length >= this.limits.maxCohortRows, () => this.run(batch));
    }
    const open = [...this.batches].filter((b) => size(b) < this.limits.maxCohortRows).sort((a, b) => size(a) - size(b));
    const roomForAnother = this.batches.size < this.decoder.instances && (open.length === 0 || size(open[0]!) > 0);
    const batch = (roomForAnother ? undefined : open[0]) ?? this.newBatch();
    batch.joining.push(row);
    // A running batch takes it at its next step; a new one waits, as a cohort would, for images still being encoded.
    this.startWhenFormed(batch, batch.joining.length >= this.limits.maxCohortRows, () => this.run(batch));
  }

  private newBatch(): Batch {
    const batch: Batch = { cacheId: undefined, instance: undefined, cacheRows: 0, length: 0, next: [], joining: [], started: false, cacheBytes: 0 };
    this.batches.add(batch);
    return batch;
  }

  private async run(batch: Batch): Promise<void> {
    let merging: Prefilled | undefined;
    let prefilling: Row[] = [];
    try {
      while (batch.next.length > 0 || batch.joining.length > 0) {
        if (batch.joining.length > 0) {
          prefilling = batch.joining.splice(0);
          const called = await this.prefill(batch, prefilling);
          prefilling = [];
          // Advanced here, after the call, not inside it: a row's caller resumes after this bookkeeping.
          const prefilled = { ...called, next: this.continued(called.lanes, called.logits) };
          if (batch.next.length === 0) {
            // Nothing left to merge into: the newcomers' cache becomes the batch's.
            if (batch.cacheId !== undefined) this.decoder.pool.releaseCache(batch.instance!, batch.cacheId);
            Object.assign(batch, { cacheId: prefilled.cacheId, cacheRows: prefilled.rows, length: prefilled.length, next: prefilled.next });
          } else if (prefilled.next.length === 0) {
            this.decoder.pool.releaseCache(batch.instance!, prefilled.cacheId);
          } else {
            merging = prefilled;
          }
        }
        if (batch.next.length === 0) continue;
        const { lanes, logits } = await this.step(batch, merging);
        batch.next = this.continued(lanes, logits);
        merging = undefined;
      }
    } catch (error) {
      const waiting = [...batch.next, ...(merging?.next ?? [])].map((lane) => lane.row);
      for (const row of new Set([...waiting, ...prefilling, ...batch.joining.splice(0)])) if (!row.finish) this.fail(row, error);
      if (merging && batch.instance !== undefined) this.decoder.pool.releaseCache(batch.instance, merging.cacheId);
    } finally {
      if (batch.instance !== undefined && batch.cacheId !== undefined) this.decoder.pool.releaseCache(batch.instance, batch.cacheId);
      this.batches.delete(batch);
      this.reportCacheBytes();
    }
  }

  /** The first call of newcomers, in a cache of their own on the batch's instance; advances them by their first token. */
  private async prefill(batch: Batch, newcomers: Row[]): Promise<Omit<Prefilled, 'next'> & { lanes: BatchLane[]; logits: Float32Array }> {
    const { decoder } = this;
    const sequences = newcomers.map((row) => this.prefixOf(row.request));
    const length = Math.max(...sequences.map((s) => s.length));
    const padding = sequences.map((s) => length - s.length);
    const cacheId = `batch-cache-${this.nextCacheId++}`;
    const started = performance.now();
    const { outputs, instance, cacheBytes } = await decoder.pool.step(
      decoder.prefillSession,
      {
        ...this.inputs.prefill(newcomers.map((row) => row.request), sequences, padding),
        attention_mask: int64(sequences.map((s, i) => [...Array<number>(padding[i]!).fill(0), ...s.map(() => 1)])),
        position_ids: int64(sequences.map((s, i) => [...Array<number>(padding[i]!).fill(0), ...s.map((_, j) => j)])),
      },
      ['logits'],
      this.cacheStep(cacheId, { start: true }),
      batch.instance,
    );
    batch.instance = instance;
    if (batch.cacheId === undefined) decoder.cacheSizer?.observe(cacheId, length, newcomers.length, cacheBytes);
    this.recordStep(newcomers.length, (performance.now() - started) / 1000);
    const lanes = newcomers.map((row, i) => ({ row, beam: 0, length: sequences[i]!.length }));
    return { cacheId, rows: lanes.length, length, lanes, logits: outputs.logits!.data as Float32Array };
  }

  /** One decode call for the batch's next lanes, newcomers merged in after them; returns the lanes it advanced (one position longer) and their logits. */
  private async step(batch: Batch, merging: Prefilled | undefined): Promise<{ lanes: BatchLane[]; logits: Float32Array }> {
    const { decoder } = this;
    const lanes = [...batch.next, ...(merging?.next ?? []).map((lane) => ({ ...lane, source: batch.cacheRows + lane.source }))];
    const cacheRows = batch.cacheRows + (merging?.rows ?? 0);
    const identity = lanes.length === cacheRows && lanes.every((lane, i) => lane.source === i);
    const keepRows = identity ? undefined : lanes.map((lane) => lane.source);
    const length = Math.max(...lanes.map((lane) => lane.length));
    const trimLeft = Math.max(batch.length, merging?.length ?? 0) - length;
    const started = performance.now();
    const { outputs, cacheBytes } = await decoder.pool.step(
      decoder.stepSession,
      {
        ...this.inputs.step(lanes.map((lane) => this.laneToken(lane)), lanes.map((lane) => lane.row.request)),
        // The cache's positions (padding 0, the lane's own 1) and the new token's.
        attention_mask: int64(lanes.map((lane) => [...Array<number>(length - lane.length).fill(0), ...Array<number>(lane.length + 1).fill(1)])),
        position_ids: int64(lanes.map((lane) => [lane.length])),
      },
      ['logits'],
      this.cacheStep(batch.cacheId!, { start: false, ...(merging && { mergeFrom: [merging.cacheId] }), ...(keepRows && { keepRows }), ...(trimLeft > 0 && { trimLeft }) }),
      batch.instance,
    );
    if (!merging && !keepRows && trimLeft === 0) decoder.cacheSizer?.observe(batch.cacheId!, length + 1, lanes.length, cacheBytes);
    batch.cacheBytes = cacheBytes;
    this.reportCacheBytes();
    this.recordStep(lanes.length, (performance.now() - started) / 1000);
    Object.assign(batch, { cacheRows: lanes.length, length: length + 1 });
    return { lanes: lanes.map((lane) => ({ row: lane.row, beam: lane.beam, length: lane.length + 1 })), logits: outputs.logits!.data as Float32Array };
  }

  /** The lanes that go on after a call over `lanes` (their rows advanced by its logits). */
  private continued(lanes: BatchLane[], logits: Float32Array): NextLanes {
    return this.advanceAll(lanes, logits).map((next) => ({ ...next, length: lanes[next.source]!.length }));
  }

  private cacheStep(id: string, step: Partial<CacheStep> & { start: boolean }): CacheStep {
    const embed = this.inputs.embed && !step.start ? { embed: this.inputs.embed } : {};
    return { id, pastToPresent: this.decoder.pastToPresent, growingPasts: this.decoder.growingPasts, lastPositionOf: ['logits'], ...embed, ...step };
  }
}
