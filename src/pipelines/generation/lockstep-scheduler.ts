/**
 * Step-level batching for a decoder without an attention mask (vit-gpt2): rows must share their
 * past length, so they decode in lockstep cohorts. A request joins the newest cohort while it has
 * not taken its first step (requests arriving together share every step; a new cohort waits up to
 * `maxFormingMs` for requests still being encoded), else starts the next one; each cohort runs one
 * session call per step for all its rows, its KV cache kept in the worker that runs it
 * (WorkerPool.step). A row leaves at the step boundary after it finishes (end of sequence,
 * length, a stop its caller reports) or its caller goes away; the cohort's cache is freed with
 * its last row. Admission and bounds: decode-scheduler.ts.
 */
import { ApiError } from '../../errors.js';
import { concatRows, DecodeScheduler, type DecoderBase, type FormingGroup, type Lane, type Row, type SequenceRequest } from './decode-scheduler.js';

export type { FinishReason, GenerationEvents, SchedulerLimits, SchedulerStats, SequenceRequest, SequenceResult } from './decode-scheduler.js';

export interface LockstepDecoder extends DecoderBase {
  /** The decoder's session name in the pool. */
  session: string;
  /** Past input → present output, e.g. past_key_values.0.key → present.0.key. */
  pastToPresent: Record<string, string>;
  /** The encoder output every step reads (kept in the worker after the first step). */
  encoderInput: string;
  /** A session that computes more kept inputs from it at the start (the decoder's encoder projections). */
  precompute?: string;
}

interface Cohort extends FormingGroup {
  id: string;
  rows: Row[];
  /** What its cache holds in the worker (reported after each step). */
  cacheBytes: number;
}

export class LockstepScheduler extends DecodeScheduler<LockstepDecoder> {
  private readonly cohorts = new Set<Cohort>();
  private forming: Cohort | undefined;
  private nextCohortId = 1;

  protected override check(request: SequenceRequest): void {
    if (request.promptIds?.length) throw new ApiError('invalid_request', 'this model does not continue a prompt (its decoder has no attention mask)');
    if (!request.encoderStates) throw new Error('a lockstep row needs its encoder states');
  }

  protected override groups(): { count: number; cacheBytes: number } {
    return { count: this.cohorts.size, cacheBytes: [...this.cohorts].reduce((sum, c) => sum + c.cacheBytes, 0) };
  }

  protected override place(row: Row): void {
    // A cohort's size is its lanes (a row with beams takes one per beam).
    const lanes = (cohort: Cohort) => cohort.rows.reduce((sum, r) => sum + r.lanes, 0);
    if (!this.forming || lanes(this.forming) + row.lanes > this.limits.maxCohortRows) {
      this.forming = { id: `cohort-${this.nextCohortId++}`, rows: [], started: false, cacheBytes: 0 };
      this.cohorts.add(this.forming);
    }
    const cohort = this.forming;
    cohort.rows.push(row);
    this.startWhenFormed(cohort, lanes(cohort) >= this.limits.maxCohortRows, () => this.run(cohort));
  }

  private async run(cohort: Cohort): Promise<void> {
    if (this.forming === cohort) this.forming = undefined;
    const { decoder } = this;
    // Each call's lanes and the cache row each continues (a row's beams repeat their parent's).
    let lanes: (Lane & { source: number })[] = cohort.rows.map((row, i) => ({ row, beam: 0, source: i }));
    let cacheRows = lanes.length;
    let instance: number | undefined;
    try {
      for (let step = 0; lanes.length > 0; step++) {
        const states = step === 0 ? concatRows(cohort.rows.map((r) => r.request.encoderStates!)) : undefined;
        const identity = lanes.length === cacheRows && lanes.every((lane, i) => lane.source === i);
        const keepRows = identity ? undefined : lanes.map((lane) => lane.source);
        const stepStarted = performance.now();
        const { outputs, instance: used, cacheBytes } = await decoder.pool.step(
          decoder.session,
          {
            input_ids: { type: 'int64', dims: [lanes.length, 1], data: BigInt64Array.from(lanes.map((lane) => BigInt(this.laneToken(lane)))) },
            use_cache_branch: { type: 'bool', dims: [1], data: Uint8Array.of(step > 0 ? 1 : 0) },
            ...(states && { [decoder.encoderInput]: states }),
          },
          ['logits'],
          { id: cohort.id, pastToPresent: decoder.pastToPresent, start: step === 0, keepInputs: [decoder.encoderInput], ...(decoder.precompute && { precompute: decoder.precompute }), lastPositionOf: ['logits'], ...(keepRows && { keepRows }) },
          instance,
        );
        instance = used;
        cacheRows = lanes.length;
        cohort.cacheBytes = cacheBytes;
        if (identity) decoder.cacheSizer?.observe(cohort.id, step + 1, lanes.length, cacheBytes);
        this.reportCacheBytes();
        this.recordStep(lanes.length, (performance.now() - stepStarted) / 1000);
        lanes = this.advanceAll(lanes, outputs.logits!.data as Float32Array);
      }
    } catch (error) {
      for (const row of new Set(lanes.map((lane) => lane.row))) if (!row.finish) this.fail(row, error);
    } finally {
      if (instance !== undefined) decoder.pool.releaseCache(instance, cohort.id);
      this.cohorts.delete(cohort);
      this.reportCacheBytes();
    }
  }
}
