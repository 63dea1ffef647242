/**
 * Access control against the real server, on HTTP, gRPC and MCP: API keys (none, wrong, right,
 * without the model or the task), open paths, per-key and per-client rate limits (429
 * `rate_limited`, distinct from `overloaded`), X-Forwarded-For only from a trusted proxy, a keys
 * file reloaded without a restart, and keys never in the logs.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import sharp from 'sharp';
import type { AccessSettings } from '../../src/server/access-config.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { capturingLogger } from '../helpers/capture-logger.js';
import { inferenceClient } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir, tinyVitDir } from '../helpers/test-models.js';
import { testConfig } from '../helpers/test-server.js';

const TEAM_KEY = 'team-key-0123456789abcdef';
const VIT_ONLY_KEY = 'vit-only-key-0123456789ab';
const CLASSIFY_ONLY_KEY = 'classify-only-0123456789';
const LIMITED_KEY = 'limited-key-0123456789abc';
const NEW_KEY = 'added-later-0123456789abcd';

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const OPEN_PATHS = ['/healthz', '/readyz', '/metrics'];

async function start(access: Partial<AccessSettings>): Promise<{ server: RunningServer; base: string; logs: string[] }> {
  const { logger, lines } = capturingLogger();
  const config = testConfig(['--model-dir', `vit=${await tinyVitDir()}`, '--model-dir', `clip=${await tinyClipDir()}`], {
    access: { openPaths: OPEN_PATHS, limits: {}, trustedProxies: [], ...access },
  });
  const server = await startServer(config, logger);
  await server.loaded;
  return { server, base: `http://127.0.0.1:${server.httpPort}`, logs: lines };
}

interface Answer {
  status: number;
  code?: string;
  retryAfter: string | null;
  wwwAuthenticate: string | null;
}

describe('API keys', () => {
  let work: string;
  let keysFile: string;
  let server: RunningServer;
  let base: string;
  let logs: string[];
  let photo: Buffer;

  const keys = (extra: object[] = []) =>
    JSON.stringify({
      keys: [
        { id: 'team', sha256: sha256(TEAM_KEY) },
        { id: 'vit-only', key: VIT_ONLY_KEY, models: ['vit'] },
        { id: 'classify-only', sha256: sha256(CLASSIFY_ONLY_KEY), tasks: ['classify'] },
        { id: 'limited', sha256: sha256(LIMITED_KEY), requests_per_second: 0.5, burst: 2 },
        ...extra,
      ],
    });

  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-access-'));
    keysFile = path.join(work, 'keys.json');
    await writeFile(keysFile, keys());
    ({ server, base, logs } = await start({ keysFile }));
    photo = await sharp(await readFile(sharedImage('chelsea.png'))).resize(64, 64).png().toBuffer();
  });
  after(async () => {
    await server.close();
    await rm(work, { recursive: true, force: true });
  });

  async function classify(key: string | undefined, model = 'vit'): Promise<Answer> {
    const body = new FormData();
    body.append('image', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'photo.png');
    body.append('model', model);
    const response = await fetch(`${base}/v1/classify`, { method: 'POST', body, headers: key ? { authorization: `Bearer ${key}` } : {} });
    const json = (await response.json()) as { error?: { code: string } };
    return { status: response.status, code: json.error?.code, retryAfter: response.headers.get('retry-after'), wwwAuthenticate: response.headers.get('www-authenticate') };
  }

  it('HTTP: no key and a wrong key are 401, the right key is served, open paths need none', async () => {
    assert.deepEqual(await classify(undefined), { status: 401, code: 'unauthorized', retryAfter: null, wwwAuthenticate: 'Bearer' });
    assert.deepEqual(await classify('not-the-key-0123456789'), { status: 401, code: 'unauthorized', retryAfter: null, wwwAuthenticate: 'Bearer' });
    assert.equal((await classify(TEAM_KEY)).status, 200);
    for (const open of OPEN_PATHS) assert.equal((await fetch(base + open)).status, 200, open);
    assert.equal((await fetch(`${base}/v1/models`)).status, 401);
    assert.equal((await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${TEAM_KEY}` } })).status, 200);
  });

  it('HTTP: a key without the model or the task is 403, also for alignments and MCP', async () => {
    assert.deepEqual(await classify(VIT_ONLY_KEY, 'vit'), { status: 200, code: undefined, retryAfter: null, wwwAuthenticate: null });
    const zeroShot = await fetch(`${base}/v1/zero-shot`, {
      method: 'POST',
      headers: { authorization: `Bearer ${VIT_ONLY_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ image: photo.toString('base64'), labels: ['cat', 'dog'] }),
    });
    assert.equal(zeroShot.status, 403);
    assert.match(((await zeroShot.json()) as { error: { message: string } }).error.message, /key 'vit-only' may not use model 'clip'/);
    const alignments = await fetch(`${base}/v1/zero-shot/alignments`, { headers: { authorization: `Bearer ${CLASSIFY_ONLY_KEY}` } });
    assert.equal(alignments.status, 403);
    assert.equal((await classify(CLASSIFY_ONLY_KEY)).status, 200);
    // /v1/models lists what the key may use.
    const listed = async (key: string) => ((await (await fetch(`${base}/v1/models`, { headers: { authorization: `Bearer ${key}` } })).json()) as { data: Array<{ id: string }> }).data.map((m) => m.id).sort();
    assert.deepEqual(await listed(VIT_ONLY_KEY), ['vit']);
    assert.deepEqual(await listed(TEAM_KEY), ['clip', 'vit']);
    const mcp = (key: string | undefined) =>
      fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...(key && { authorization: `Bearer ${key}` }) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'zero_shot_classify', arguments: { image: photo.toString('base64'), labels: ['cat'] } } }),
      });
    assert.equal((await mcp(undefined)).status, 401);
    const refused = await (await mcp(CLASSIFY_ONLY_KEY)).text();
    assert.match(refused, /forbidden: key 'classify-only' may not use zero-shot/);
  });

  it('gRPC: the same answers through authorization metadata', async () => {
    const client = inferenceClient(server.grpcPort);
    const classifyGrpc = (key: string | undefined, model = 'vit') =>
      new Promise<{ code: number; errorCode?: unknown }>((resolve) => {
        const metadata = new grpc.Metadata();
        if (key) metadata.set('authorization', `Bearer ${key}`);
        client.Classify!.call(client, { image: photo, model }, metadata, (error: grpc.ServiceError | null) =>
          resolve(error ? { code: error.code, errorCode: error.metadata.get('error-code')[0] } : { code: grpc.status.OK }),
        );
      });
    try {
      assert.deepEqual(await classifyGrpc(undefined), { code: grpc.status.UNAUTHENTICATED, errorCode: 'unauthorized' });
      assert.deepEqual(await classifyGrpc('wrong-key-0123456789abc'), { code: grpc.status.UNAUTHENTICATED, errorCode: 'unauthorized' });
      assert.deepEqual(await classifyGrpc(TEAM_KEY), { code: grpc.status.OK });
      assert.deepEqual(await classifyGrpc(VIT_ONLY_KEY, 'vit'), { code: grpc.status.OK });
      const listAlignments = (key: string) =>
        new Promise<number>((resolve) => {
          const metadata = new grpc.Metadata();
          metadata.set('authorization', `Bearer ${key}`);
          client.ListAlignments!.call(client, {}, metadata, (error: grpc.ServiceError | null) => resolve(error ? error.code : grpc.status.OK));
        });
      assert.equal(await listAlignments(CLASSIFY_ONLY_KEY), grpc.status.PERMISSION_DENIED);
      const listedModels = await new Promise<string[]>((resolve, reject) => {
        const metadata = new grpc.Metadata();
        metadata.set('authorization', `Bearer ${VIT_ONLY_KEY}`);
        client.ListModels!.call(client, {}, metadata, (error: grpc.ServiceError | null, answer: { models: Array<{ id: string }> }) =>
          error ? reject(error) : resolve(answer.models.map((m) => m.id)),
        );
      });
      assert.deepEqual(listedModels, ['vit']);
      assert.equal(await listAlignments(TEAM_KEY), grpc.status.OK);
    } finally {
      client.close();
    }
  });

  it('a key over its rate gets 429 rate_limited with Retry-After, counted apart from overloaded', async () => {
    const answers = [];
    for (let i = 0; i < 3; i++) answers.push(await classify(LIMITED_KEY));
    assert.deepEqual(answers.map((a) => a.status), [200, 200, 429]);
    assert.equal(answers[2]!.code, 'rate_limited');
    assert.ok(Number(answers[2]!.retryAfter) >= 1, `Retry-After ${answers[2]!.retryAfter}`);
    // Another key is not held back by this one's bucket.
    assert.equal((await classify(TEAM_KEY)).status, 200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^mms_access_refusals_total\{transport="http",code="rate_limited"\} 1$/m);
    assert.match(metrics, /^mms_access_refusals_total\{transport="http",code="unauthorized"\} [1-9]/m);
    // Usage per key: answers counted under the key id, refusals by the service included.
    assert.match(metrics, /^mms_key_requests_total\{key_id="limited",task="image-classification",transport="http",code="ok"\} 2$/m);
    assert.match(metrics, /^mms_key_requests_total\{key_id="vit-only",task="zero-shot-image-classification",transport="http",code="forbidden"\} 1$/m);
    assert.match(metrics, /^mms_key_requests_total\{key_id="team",task="image-classification",transport="grpc",code="ok"\} 1$/m);
    assert.doesNotMatch(metrics, /key_id="anonymous/);
  });

  it('a changed keys file takes effect without a restart', async () => {
    assert.equal((await classify(NEW_KEY)).status, 401);
    await writeFile(keysFile, keys([{ id: 'added', key: NEW_KEY }]));
    let status = 0;
    for (let waited = 0; status !== 200 && waited < 5000; waited += 100) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = (await classify(NEW_KEY)).status;
    }
    assert.equal(status, 200);
  });

  it('never logs a key, and names the key id on its requests', () => {
    const all = logs.join('\n');
    for (const key of [TEAM_KEY, VIT_ONLY_KEY, CLASSIFY_ONLY_KEY, LIMITED_KEY, NEW_KEY]) assert.ok(!all.includes(key), 'a key was logged');
    assert.ok(logs.some((line) => line.includes('"key_id":"team"') && line.includes('"msg":"request done"')), 'the key id is in the access log');
  });
});

describe('rate limits without keys: per client address', () => {
  let server: RunningServer;
  let base: string;

  before(async () => {
    ({ server, base } = await start({ limits: { requestsPerSecond: 0.5, burst: 1 }, trustedProxies: ['127.0.0.1/32'] }));
  });
  after(() => server.close());

  const models = (forwardedFor?: string) => fetch(`${base}/v1/models`, { headers: forwardedFor ? { 'x-forwarded-for': forwardedFor } : {} });

  it('limits each client, told apart by X-Forwarded-For from a trusted proxy', async () => {
    assert.equal((await models('203.0.113.7')).status, 200);
    const limited = await models('203.0.113.7');
    assert.equal(limited.status, 429);
    assert.equal(((await limited.json()) as { error: { code: string } }).error.code, 'rate_limited');
    assert.equal((await models('198.51.100.9')).status, 200, 'another client behind the proxy has its own bucket');
    // Without the header the proxy itself is the client.
    assert.equal((await models()).status, 200);
    assert.equal((await models()).status, 429);
    // Open paths are not limited.
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
  });
});
