/**
 * The bad-input corpus (issue: hardening) against the real server in its own process, on both
 * transports: every case gets the answer it should (a 4xx with the table's code, or a normal
 * answer for odd-but-valid input), never a 5xx, a crash or a hang, and the server answers the
 * next request. The per-endpoint tally is printed (`npm run corpus`), for the README's table.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { freePort, startChild, type ChildServer } from '../../bench/processes.js';
import { inferenceClient } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { imageCorpus } from './image-corpus.js';
import { expectedAnswer, imageEndpoints } from './image-endpoints.js';
import { sendGrpc, sendGrpcFrames, sendHttp, type Outcome, type Transport } from './outcome.js';
import { requestCorpus } from './request-corpus.js';
import { isServerFailure, tallyTable, type CaseRecord } from './tally.js';

interface CorpusCase {
  readonly endpoint: string;
  readonly transport: Transport;
  readonly name: string;
  readonly expect: string;
  send(): Promise<Outcome>;
}

describe('the bad-input corpus, against the server process on both transports', () => {
  let server: ChildServer;
  let base: string;
  let grpcPort: number;
  let work: string;
  let svgProbe: http.Server;
  const svgFetches: string[] = [];
  const records: CaseRecord[] = [];

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-corpus-'));
    svgProbe = http.createServer((req, res) => {
      svgFetches.push(req.url ?? '');
      res.end();
    });
    await new Promise<void>((resolve) => svgProbe.listen(0, '127.0.0.1', resolve));
    const port = await freePort();
    grpcPort = await freePort();
    base = `http://127.0.0.1:${port}`;
    const args = [...(await everyTaskModelFlags()), '--port', String(port), '--grpc-port', String(grpcPort), '--host', '127.0.0.1'];
    server = await startChild('src/server/main.ts', args, `${base}/readyz`, { env: { MMS_CACHE_DIR: work } });
  });

  after(async () => {
    await server?.stop();
    svgProbe?.close();
    await rm(work, { recursive: true, force: true });
    if (records.length > 0) {
      const table = tallyTable(records);
      console.log(`\n${table}\n`);
      if (process.env.MMS_CORPUS_REPORT) await writeFile(process.env.MMS_CORPUS_REPORT, `${table}\n`);
    }
  });

  /** Runs the cases in order, recording each; after each, the process must be up and answering. */
  async function runAll(cases: CorpusCase[]): Promise<CaseRecord[]> {
    const ran: CaseRecord[] = [];
    for (const testCase of cases) {
      const outcome = await testCase.send();
      const alive = server.process.exitCode === null && (await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(10_000) }).then((r) => r.ok, () => false));
      const record = { endpoint: testCase.endpoint, transport: testCase.transport, name: testCase.name, expect: testCase.expect, outcome, crashed: !alive };
      ran.push(record);
      records.push(record);
      if (!alive) break;
    }
    return ran;
  }

  function assertAllAsExpected(ran: CaseRecord[], total: number): void {
    const wrong = ran.filter((record) => record.outcome.result !== record.expect || record.crashed);
    const described = wrong.map((r) => `${r.endpoint} ${r.transport} "${r.name}": expected ${r.expect}, got ${r.outcome.result} (${r.outcome.status}: ${r.outcome.detail.slice(0, 160)})${r.crashed ? ' and the server stopped answering' : ''}`);
    assert.equal(ran.length, total, 'every case ran');
    assert.deepEqual(described, []);
    assert.equal(ran.filter((record) => isServerFailure(record.outcome)).length, 0);
  }

  it('every image endpoint refuses bad images in the table\'s words and serves odd valid ones', async () => {
    const images = await imageCorpus(`http://127.0.0.1:${(svgProbe.address() as { port: number }).port}`);
    const good = await sharp(await readFile(sharedImage('chelsea.png'))).resize(64, 64).png().toBuffer();
    const client = inferenceClient(grpcPort, { 'grpc.max_send_message_length': -1 });
    const cases: CorpusCase[] = imageEndpoints(good).flatMap((endpoint) =>
      images.flatMap((image) => [
        { endpoint: endpoint.name, transport: 'http' as const, name: image.name, expect: expectedAnswer(endpoint, image, 'http'), send: () => sendHttp(base, endpoint.http(image)) },
        { endpoint: endpoint.name, transport: 'grpc' as const, name: image.name, expect: expectedAnswer(endpoint, image, 'grpc'), send: () => sendGrpc(client, endpoint.grpc(image)) },
      ]),
    );
    try {
      assertAllAsExpected(await runAll(cases), cases.length);
    } finally {
      client.close();
    }
    assert.deepEqual(svgFetches, [], 'an SVG reference was fetched');
  });

  it('malformed bodies, wrong types, oversized and abusive requests get their 4xx on every endpoint', async () => {
    const client = inferenceClient(grpcPort, { 'grpc.max_send_message_length': -1 });
    const corpus = await requestCorpus();
    const cases: CorpusCase[] = [
      ...corpus.http.map((c) => ({ endpoint: c.endpoint, transport: 'http' as const, name: c.name, expect: c.expect, send: () => sendHttp(base, c.request) })),
      ...corpus.grpc.map((c) => ({ endpoint: c.endpoint, transport: 'grpc' as const, name: c.name, expect: c.expect, send: () => sendGrpc(client, c.call) })),
      ...corpus.grpcFrames.map((c) => ({ endpoint: c.endpoint, transport: 'grpc' as const, name: c.name, expect: c.expect, send: () => sendGrpcFrames(grpcPort, c.method, c.body) })),
    ];
    try {
      assertAllAsExpected(await runAll(cases), cases.length);
    } finally {
      client.close();
    }
  });
});
