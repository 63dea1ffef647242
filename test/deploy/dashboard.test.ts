/**
 * The Grafana dashboard against a real Prometheus (Debian's 2.42): the committed
 * deploy/grafana/dashboard.json is what dashboard.ts builds; Prometheus scrapes the real server
 * (serving a classifier, a CLIP, a captioner and a chat model) every second while every
 * capability is driven, overload (429) and deadline (504) cases included; then every panel's
 * query, with the dashboard's variables substituted, must run and return data, and so must each
 * recording rule of deploy/prometheus/rules.yml, which Prometheus evaluates, and the
 * prometheus-adapter rule's query that feeds the HPA.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import request from 'supertest';
import { parse } from 'yaml';
import { DASHBOARD_JSON } from '../../deploy/grafana/build-dashboard.js';
import { buildDashboard, ROWS } from '../../deploy/grafana/dashboard.js';
import type { RunningServer } from '../../src/server/server.js';
import { freePort } from '../../bench/processes.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const RULES = path.resolve(path.dirname(DASHBOARD_JSON), '..', 'prometheus', 'rules.yml');

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Grafana dashboard against a real Prometheus', () => {
  let server: RunningServer;
  let prometheus: ChildProcess;
  let work: string;
  let promBase: string;

  const query = async (expr: string): Promise<{ status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string }> =>
    (await fetch(`${promBase}/api/v1/query?query=${encodeURIComponent(expr)}`)).json() as never;

  before(async () => {
    // At most 4 requests in flight: a burst is partly refused (429).
    server = await startTestServer(
      await everyTaskModelFlags(),
      { limits: { maxInFlightRequests: 4 } },
    );
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-prometheus-'));
    const config = path.join(work, 'prometheus.yml');
    await writeFile(config, [
      'global: { scrape_interval: 1s, evaluation_interval: 1s }',
      `rule_files: [${JSON.stringify(RULES)}]`,
      'scrape_configs:',
      `  - job_name: mms`,
      `    static_configs: [{ targets: ["127.0.0.1:${server.httpPort}"] }]`,
      '',
    ].join('\n'));
    const port = await freePort();
    promBase = `http://127.0.0.1:${port}`;
    prometheus = spawn('prometheus', [`--config.file=${config}`, `--storage.tsdb.path=${path.join(work, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    // Ready, and scraping the server.
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline) {
      const up = await query('up{job="mms"} == 1').catch(() => undefined);
      if (up?.data?.result.length) break;
      await sleep(250);
    }
    await drive();
    await sleep(3_000); // a few more scrapes and rule evaluations
  });
  after(async () => {
    prometheus?.kill('SIGTERM');
    await server?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  /** Every capability, and the overload and deadline cases, so that every panel has series. */
  async function drive(): Promise<void> {
    const photo = (await readFile(sharedImage('chelsea.png'))).toString('base64');
    const post = (route: string, body: object) => request(server.http).post(route).send(body);
    for (let i = 0; i < 3; i++) await post('/v1/classify', { image: photo }).expect(200);
    for (let i = 0; i < 2; i++) await post('/v1/zero-shot', { image: photo, labels: ['cat', 'dog'] }).expect(200);
    await post('/v1/caption', { image: photo, max_new_tokens: 6 }).expect(200);
    const turn = { role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${photo}` } }, { type: 'text', text: 'What is this?' }] };
    for (let i = 0; i < 2; i++) await post('/v1/chat/completions', { messages: [turn], max_tokens: 6 }).expect(200);
    const burst = await Promise.all(Array.from({ length: 24 }, () => post('/v1/classify', { image: photo })));
    assert.ok(burst.some((res) => res.status === 429), 'the burst met the in-flight limit');
    // Past its deadline mid-answer.
    await post('/v1/chat/completions', { messages: [turn], max_tokens: 4000, min_tokens: 4000, timeout_ms: 300 }).expect(504);
  }

  it('is what dashboard.ts builds', async () => {
    assert.deepEqual(JSON.parse(await readFile(DASHBOARD_JSON, 'utf8')), JSON.parse(JSON.stringify(buildDashboard())), 'run npm run build:dashboard');
  });

  it('answers every panel query with data, variables substituted', async () => {
    const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '1s').replaceAll('$model', '.*').replaceAll('$instance', '.*');
    const empty: string[] = [];
    for (const panel of ROWS.flatMap((row) => row.panels)) {
      for (const { expr } of panel.queries) {
        const answer = await query(substitute(expr));
        assert.equal(answer.status, 'success', `${panel.title}: ${answer.error}`);
        if (answer.data.result.length === 0) empty.push(`${panel.title}: ${expr}`);
      }
    }
    assert.deepEqual(empty, [], 'queries without data');
    // The variables' own queries find the served models.
    const models = await query('group by (model) (mms_model_ready)');
    assert.deepEqual(models.data.result.map((r) => r.metric.model).sort(), ['captioner', 'chat', 'clip', 'vit']);
  });

  it('answers the prometheus-adapter rule\'s query (the HPA\'s metric), its template filled in', async () => {
    const adapter = parse(await readFile(path.join(path.dirname(RULES), '..', 'k8s', 'monitoring', 'prometheus-adapter-rules.yaml'), 'utf8')) as { rules: { seriesQuery: string; metricsQuery: string }[] };
    const [rule] = adapter.rules;
    const series = (await query(rule!.seriesQuery.replace('namespace!="",pod!=""', 'job="mms"'))).data.result;
    assert.ok(series.length > 0, 'the series it selects exist');
    // Outside a cluster there is no pod label: group by instance, as the adapter would by pod.
    const filled = rule!.metricsQuery.replace('<<.GroupBy>>', 'instance').replace('<<.Series>>', 'mms_queue_depth').replace('<<.LabelMatchers>>', 'job="mms"');
    const answer = await query(filled);
    assert.equal(answer.status, 'success', answer.error);
    assert.equal(answer.data.result.length, 1, 'one value per pod');
  });

  it('evaluates every recording rule to data', async () => {
    const rules = (await readFile(RULES, 'utf8')).match(/record: (\S+)/g)!.map((line) => line.slice('record: '.length));
    assert.equal(rules.length, 5);
    for (const rule of rules) assert.ok((await query(rule)).data.result.length > 0, rule);
    // Refused at the door, before the model is read: labelled model="unknown".
    const overloaded = await query('mms:requests_overloaded:ratio_rate5m > 0');
    assert.ok(overloaded.data.result.length > 0, 'the burst shows in the overload ratio');
  });
});
