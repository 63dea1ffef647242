/**
 * Every Prometheus metric of the server, in one place (docs/architecture.md, "Metrics"): prefix
 * `mms_`, base units, `_total` counters, fixed label sets. Request-level metrics carry model,
 * variant, task, transport and code; batcher-level ones carry model, component (the session:
 * `model`, `text_model`, `vision_model`) and variant (a batch mixes transports); model-level ones
 * model and variant. Label values come from the served set: an unknown model id counts as "unknown".
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { BatcherEvents } from '../pipelines/batcher.js';
import type { GenerationEvents } from '../pipelines/generation/lockstep-scheduler.js';

export const TRANSPORTS = ['http', 'grpc', 'mcp'] as const;
export type Transport = (typeof TRANSPORTS)[number];

/**
 * A served model as metrics name it: the model id without its tag, and the tag (dtype) apart,
 * so one model's variants sum up or compare in PromQL. Unknown ids count as "unknown".
 */
export interface ModelLabels {
  model: string;
  variant: string;
}

const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128];
const LOAD_BUCKETS = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

export class ServerMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: 'mms_requests_total',
    help: 'Requests answered, by status code (ok or an error code of the error table).',
    labelNames: ['model', 'variant', 'task', 'transport', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'mms_request_duration_seconds',
    help: 'Time from request received to answer sent.',
    labelNames: ['model', 'variant', 'task', 'transport', 'code'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly accessRefusals = new Counter({
    name: 'mms_access_refusals_total',
    help: 'Requests refused before any task saw them: no or a wrong API key (unauthorized), or over the caller\'s rate (rate_limited).',
    labelNames: ['transport', 'code'] as const,
    registers: [this.registry],
  });
  readonly keyRequests = new Counter({
    name: 'mms_key_requests_total',
    help: 'Requests answered per API key id (keys on only: one series per configured key), by code: usage per tenant.',
    labelNames: ['key_id', 'task', 'transport', 'code'] as const,
    registers: [this.registry],
  });
  readonly requestsInFlight = new Gauge({
    name: 'mms_requests_in_flight',
    help: 'Requests received and not yet answered.',
    labelNames: ['transport'] as const,
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'mms_queue_depth',
    help: 'Items waiting in the model queue (not counting running batches).',
    labelNames: ['model', 'component', 'variant'] as const,
    registers: [this.registry],
  });
  readonly batchesInFlight = new Gauge({
    name: 'mms_batches_in_flight',
    help: 'Batches running on session workers.',
    labelNames: ['model', 'component', 'variant'] as const,
    registers: [this.registry],
  });
  readonly queueWait = new Histogram({
    name: 'mms_queue_wait_seconds',
    help: 'Time an item waited in the queue before its batch started.',
    labelNames: ['model', 'component', 'variant'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly batchSize = new Histogram({
    name: 'mms_batch_size',
    help: 'Items per batch run.',
    labelNames: ['model', 'component', 'variant'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly inferenceDuration = new Histogram({
    name: 'mms_inference_duration_seconds',
    help: 'Time to run one batch (stack, session run on a worker, split).',
    labelNames: ['model', 'component', 'variant'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly itemsProcessed = new Counter({
    name: 'mms_items_processed_total',
    help: 'Items that went through a batch run (throughput = rate of this).',
    labelNames: ['model', 'component', 'variant'] as const,
    registers: [this.registry],
  });
  readonly rejections = new Counter({
    name: 'mms_rejections_total',
    help: 'Items refused or dropped by the batcher, by reason.',
    labelNames: ['model', 'component', 'variant', 'reason'] as const,
    registers: [this.registry],
  });
  readonly loadSeconds = new Histogram({
    name: 'mms_model_load_seconds',
    help: 'Time to create the sessions of a model.',
    labelNames: ['model', 'variant'] as const,
    buckets: LOAD_BUCKETS,
    registers: [this.registry],
  });
  readonly warmupSeconds = new Histogram({
    name: 'mms_model_warmup_seconds',
    help: 'Time to run the warm-up batches of a model.',
    labelNames: ['model', 'variant'] as const,
    buckets: LOAD_BUCKETS,
    registers: [this.registry],
  });
  readonly modelInfo = new Gauge({
    name: 'mms_model_info',
    help: 'Served models (always 1) with the execution provider actually in use.',
    labelNames: ['model', 'variant', 'task', 'family', 'execution_provider'] as const,
    registers: [this.registry],
  });
  readonly modelReady = new Gauge({
    name: 'mms_model_ready',
    help: '1 when the model is loaded, warm and healthy, else 0.',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly workerRestarts = new Counter({
    name: 'mms_worker_restarts_total',
    help: 'Session workers replaced after dying.',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });

  readonly embeddingCacheRequests = new Counter({
    name: 'mms_embedding_cache_requests_total',
    help: 'Prompt embeddings asked of the text-embedding cache, by result (hit or miss: a miss runs the text tower).',
    labelNames: ['model', 'variant', 'result'] as const,
    registers: [this.registry],
  });
  readonly embeddingCacheBytes = new Gauge({
    name: 'mms_embedding_cache_bytes',
    help: 'Bytes held by the text-embedding cache.',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly generatedTokens = new Counter({
    name: 'mms_generated_tokens_total',
    help: 'Tokens generated by decoders (captions), end-of-sequence not counted.',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly timeToFirstToken = new Histogram({
    name: 'mms_time_to_first_token_seconds',
    help: "From a sequence's submission to the decode scheduler to its first token (encoder time not included).",
    labelNames: ['model', 'variant'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly interTokenLatency = new Histogram({
    name: 'mms_inter_token_latency_seconds',
    help: "Between a sequence's consecutive tokens.",
    labelNames: ['model', 'variant'] as const,
    buckets: LATENCY_BUCKETS,
    registers: [this.registry],
  });
  readonly activeSequences = new Gauge({
    name: 'mms_active_sequences',
    help: 'Sequences decoding now (they hold a KV cache).',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly queuedSequences = new Gauge({
    name: 'mms_queued_sequences',
    help: 'Sequences waiting for a decode slot.',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly decodeCacheBytes = new Gauge({
    name: 'mms_decode_cache_bytes',
    help: 'Bytes the decoder caches hold in the session workers (KV pasts, kept encoder states and projections).',
    labelNames: ['model', 'variant'] as const,
    registers: [this.registry],
  });
  readonly decodeBatchSize = new Histogram({
    name: 'mms_decode_batch_size',
    help: 'Rows per decoder session call (sequences sharing a step).',
    labelNames: ['model', 'variant'] as const,
    buckets: BATCH_BUCKETS,
    registers: [this.registry],
  });
  readonly pixelBudgetBytes = new Gauge({
    name: 'mms_pixel_budget_used_bytes',
    help: 'Decoded image bytes in flight (estimated from headers), against the pixel-memory budget.',
    registers: [this.registry],
  });
  readonly pixelBudgetWaiting = new Gauge({
    name: 'mms_pixel_budget_waiting',
    help: 'Images waiting for room in the pixel-memory budget.',
    registers: [this.registry],
  });

  constructor() {
    // Standard process and Node.js metrics (CPU, memory, event-loop lag, GC), unprefixed so
    // stock dashboards work.
    collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 10 });
    // prom-client also exports three gauges named `*_total`, which Prometheus reserves for
    // counters (promtool rejects them); their per-type breakdowns (same names without the
    // suffix) carry the same information.
    for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
      this.registry.removeSingleMetric(name);
    }
  }

  /** The batcher callbacks that feed the metrics of one component of a model. */
  batcherEvents(labels: ModelLabels, component: string): BatcherEvents {
    const at = { model: labels.model, component, variant: labels.variant };
    return {
      onQueueDepth: (depth) => this.queueDepth.set(at, depth),
      onBatchStart: ({ size, queueWaitSeconds }) => {
        this.batchesInFlight.inc(at);
        this.batchSize.observe(at, size);
        for (const wait of queueWaitSeconds) this.queueWait.observe(at, wait);
      },
      onBatchEnd: ({ size, durationSeconds }) => {
        this.batchesInFlight.dec(at);
        this.inferenceDuration.observe(at, durationSeconds);
        this.itemsProcessed.inc(at, size);
      },
      onReject: (reason) => this.rejections.inc({ ...at, reason }),
      onDrop: (reason) => this.rejections.inc({ ...at, reason }),
    };
  }

  /** The decode scheduler's callbacks that feed the generation metrics of one model. */
  generationEvents(labels: ModelLabels): GenerationEvents {
    const at = { model: labels.model, variant: labels.variant };
    return {
      onStep: (rows) => this.decodeBatchSize.observe(at, rows),
      onFirstToken: (seconds) => {
        this.timeToFirstToken.observe(at, seconds);
        this.generatedTokens.inc(at);
      },
      onNextToken: (seconds) => {
        this.interTokenLatency.observe(at, seconds);
        this.generatedTokens.inc(at);
      },
      onOccupancy: (active, queued) => {
        this.activeSequences.set(at, active);
        this.queuedSequences.set(at, queued);
      },
      onCacheBytes: (bytes) => this.decodeCacheBytes.set(at, bytes),
    };
  }

  /**
   * Series known in advance start at 0, so that a rate over them sees their first increase (a
   * counter that appears already at 12 shows no rate): the requests refused at the door, before
   * their model is read (`model="unknown"`), for each task name and transport.
   */
  initRefusals(taskNames: readonly string[]): void {
    for (const task of taskNames) {
      for (const transport of TRANSPORTS) this.requests.inc({ model: 'unknown', variant: 'unknown', task, transport, code: 'overloaded' }, 0);
    }
    for (const transport of TRANSPORTS) for (const code of ['unauthorized', 'rate_limited']) this.accessRefusals.inc({ transport, code }, 0);
  }

  /**
   * Counts one request from its start; call the returned function with the answer's code (and
   * the API key id it came with, when keys are on).
   */
  startRequest(transport: Transport): (labels: ModelLabels & { task: string; code: string; keyId?: string }) => void {
    const started = process.hrtime.bigint();
    this.requestsInFlight.inc({ transport });
    let done = false;
    return ({ model, variant, task, code, keyId }) => {
      if (done) return;
      done = true;
      this.requestsInFlight.dec({ transport });
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const labels = { model, variant, task, transport, code };
      this.requests.inc(labels);
      if (keyId !== undefined) this.keyRequests.inc({ key_id: keyId, task, transport, code });
      this.requestDuration.observe(labels, seconds);
    };
  }
}
