/**
 * The Grafana dashboard, as code (@grafana/grafana-foundation-sdk): `npm run build:dashboard`
 * writes deploy/grafana/dashboard.json. Panels only for what the server measures
 * (docs/architecture.md, "Metrics"), each query filtered by the `$model` and `$instance`
 * variables; test/deploy/dashboard.test.ts runs every query against a real Prometheus scraping
 * the server and fails on any that errors or returns nothing.
 */
import { DashboardBuilder, DatasourceVariableBuilder, QueryVariableBuilder, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };
/** The variables every query is filtered by. */
const SELECT = 'model=~"$model", instance=~"$instance"';

interface Query {
  expr: string;
  legend: string;
}

export interface PanelSpec {
  title: string;
  description: string;
  unit: string;
  queries: Query[];
}

export interface RowSpec {
  title: string;
  panels: PanelSpec[];
}

const quantiles = (metric: string, by: string, filter = SELECT): Query[] =>
  [0.5, 0.95, 0.99].map((q) => ({ expr: `histogram_quantile(${q}, sum by (le, ${by}) (rate(${metric}_bucket{${filter}}[$__rate_interval])))`, legend: `p${q * 100} {{${by}}}` }));
const meanOf = (metric: string, by: string): Query => ({
  expr: `sum by (${by}) (rate(${metric}_sum{${SELECT}}[$__rate_interval])) / sum by (${by}) (rate(${metric}_count{${SELECT}}[$__rate_interval]))`,
  legend: `{{${by}}}`,
});

export const ROWS: RowSpec[] = [
  {
    title: 'Traffic',
    panels: [
      {
        title: 'Throughput (items/s)',
        description: 'Items run through each model component per second (images, prompts, image views).',
        unit: 'reqps',
        queries: [{ expr: `sum by (model, component) (rate(mms_items_processed_total{${SELECT}}[$__rate_interval]))`, legend: '{{model}} {{component}}' }],
      },
      {
        title: 'Requests by code',
        description: 'Answers per second by the error table\'s code (ok included), over every transport.',
        unit: 'reqps',
        queries: [{ expr: `sum by (code) (rate(mms_requests_total{${SELECT}}[$__rate_interval]))`, legend: '{{code}}' }],
      },
      {
        title: 'Overloaded (429) and deadline exceeded (504)',
        description: 'Requests refused because queues or limits were full, and requests past their deadline.',
        unit: 'reqps',
        queries: [{ expr: `sum by (model, code) (rate(mms_requests_total{${SELECT}, code=~"overloaded|deadline_exceeded"}[$__rate_interval]))`, legend: '{{model}} {{code}}' }],
      },
      {
        title: 'Refused at the door (401, 429 rate_limited)',
        description: 'Requests refused before any task: no or a wrong API key, or over the key\'s (or client\'s) rate.',
        unit: 'reqps',
        queries: [{ expr: 'sum by (code, transport) (rate(mms_access_refusals_total{instance=~"$instance"}[$__rate_interval]))', legend: '{{transport}} {{code}}' }],
      },
      {
        title: 'Generated tokens/s',
        description: 'Tokens decoded per second (captioning and chat).',
        unit: 'short',
        queries: [{ expr: `sum by (model) (rate(mms_generated_tokens_total{${SELECT}}[$__rate_interval]))`, legend: '{{model}}' }],
      },
    ],
  },
  {
    title: 'Latency and queues',
    panels: [
      { title: 'Request latency', description: 'p50, p95 and p99 of answered requests.', unit: 's', queries: quantiles('mms_request_duration_seconds', 'model', `${SELECT}, code="ok"`) },
      {
        title: 'Queue depth',
        description: 'Items waiting in each component\'s queue (running batches not counted).',
        unit: 'short',
        queries: [{ expr: `sum by (model, component) (mms_queue_depth{${SELECT}})`, legend: '{{model}} {{component}}' }],
      },
      { title: 'Queue wait', description: 'Time items waited in the queue before their batch ran.', unit: 's', queries: quantiles('mms_queue_wait_seconds', 'model') },
      { title: 'Batch size (mean)', description: 'Items per session run.', unit: 'short', queries: [meanOf('mms_batch_size', 'model')] },
    ],
  },
  {
    title: 'Generation',
    panels: [
      { title: 'Time to first token', description: 'From a sequence\'s submission to the decoder to its first token.', unit: 's', queries: quantiles('mms_time_to_first_token_seconds', 'model') },
      { title: 'Inter-token latency', description: 'Between a sequence\'s consecutive tokens.', unit: 's', queries: quantiles('mms_inter_token_latency_seconds', 'model') },
      {
        title: 'Sequences',
        description: 'Sequences decoding (holding a KV cache) and waiting for a slot.',
        unit: 'short',
        queries: [
          { expr: `sum by (model) (mms_active_sequences{${SELECT}})`, legend: 'active {{model}}' },
          { expr: `sum by (model) (mms_queued_sequences{${SELECT}})`, legend: 'queued {{model}}' },
        ],
      },
      { title: 'Decode batch size (mean)', description: 'Rows per decoder call: sequences sharing a step.', unit: 'short', queries: [meanOf('mms_decode_batch_size', 'model')] },
    ],
  },
  {
    title: 'Health and resources',
    panels: [
      {
        title: 'Embedding cache hit rate',
        description: 'Prompt embeddings (CLIP) and image features (chat) answered from the cache.',
        unit: 'percentunit',
        queries: [
          {
            expr: `sum by (model) (rate(mms_embedding_cache_requests_total{${SELECT}, result="hit"}[$__rate_interval])) / sum by (model) (rate(mms_embedding_cache_requests_total{${SELECT}}[$__rate_interval]))`,
            legend: '{{model}}',
          },
        ],
      },
      { title: 'Model ready', description: '1 when loaded, warm and healthy.', unit: 'short', queries: [{ expr: `mms_model_ready{${SELECT}}`, legend: '{{model}} {{variant}}' }] },
      {
        title: 'Worker restarts',
        description: 'Session workers replaced after dying, in the last hour.',
        unit: 'short',
        queries: [{ expr: `sum by (model) (increase(mms_worker_restarts_total{${SELECT}}[1h]))`, legend: '{{model}}' }],
      },
      {
        title: 'Event-loop lag (p99)',
        description: 'How long the main thread was busy: HTTP and gRPC answers wait this long.',
        unit: 's',
        queries: [{ expr: 'nodejs_eventloop_lag_p99_seconds{instance=~"$instance"}', legend: '{{instance}}' }],
      },
      { title: 'Memory (RSS)', description: 'Resident memory of the server process.', unit: 'bytes', queries: [{ expr: 'process_resident_memory_bytes{instance=~"$instance"}', legend: '{{instance}}' }] },
    ],
  },
];

export function buildDashboard() {
  const variable = (name: string, query: string) =>
    new QueryVariableBuilder(name).label(name).query(query).definition(query).datasource(DATASOURCE).multi(true).includeAll(true).allValue('.*').refresh(2);
  let builder = new DashboardBuilder('Multimodal inference server')
    .uid('mms-overview')
    .tags(['multimodal-inference-server'])
    .refresh('30s')
    .time({ from: 'now-1h', to: 'now' })
    .withVariable(new DatasourceVariableBuilder('datasource').label('Data source').type('prometheus'))
    .withVariable(variable('model', 'label_values(mms_model_ready, model)'))
    .withVariable(variable('instance', 'label_values(mms_model_ready, instance)'));
  for (const row of ROWS) {
    builder = builder.withRow(new RowBuilder(row.title));
    for (const panel of row.panels) {
      let built = new PanelBuilder().title(panel.title).description(panel.description).unit(panel.unit).datasource(DATASOURCE).height(8).span(12);
      panel.queries.forEach((query, i) => {
        built = built.withTarget(new DataqueryBuilder().expr(query.expr).legendFormat(query.legend).refId(String.fromCharCode(65 + i)));
      });
      builder = builder.withPanel(built);
    }
  }
  return builder.build();
}
