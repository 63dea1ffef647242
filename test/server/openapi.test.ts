/**
 * GET /openapi.json against a maintained OpenAPI 3.1 validator, and against the live server:
 * every documented example request, sent as documented, gets a 200 answer of the documented
 * type whose JSON validates against the documented answer schema (ajv, JSON Schema 2020-12);
 * every documented GET route answers; /docs serves Swagger UI from the package, no CDN.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

type Document = {
  openapi: string;
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { examples?: Record<string, { value: object }> }> }; responses: Record<string, { content?: Record<string, { schema?: object }> }> }>>;
};

describe('OpenAPI document', () => {
  let server: RunningServer;
  let document: Document;

  before(async () => {
    server = await startTestServer(await everyTaskModelFlags());
    document = (await request(server.http).get('/openapi.json').expect(200)).body as Document;
  });
  after(() => server?.close());

  it('is a valid OpenAPI 3.1 document', async () => {
    assert.equal(document.openapi, '3.1.0');
    const result = await new Validator().validate(document as never);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1)?.slice(0, 2000));
  });

  it('documents every task route with an example request the live server answers as documented', async () => {
    const posts = Object.entries(document.paths).filter(([, ops]) => ops.post?.requestBody?.content['application/json']?.examples);
    assert.deepEqual(posts.map(([path]) => path).sort(), ['/v1/attention', '/v1/caption', '/v1/chat/completions', '/v1/classify', '/v1/embeddings', '/v1/zero-shot', '/v1/zero-shot/alignments', '/v1/zero-shot/localize']);
    for (const [path, ops] of posts) {
      const { value } = ops.post!.requestBody!.content['application/json']!.examples!.example!;
      const res = await request(server.http).post(path).send(value);
      assert.equal(res.status, 200, `${path}: ${JSON.stringify(res.body).slice(0, 300)}`);
      const type = (res.headers['content-type'] ?? '').split(';')[0]!;
      const documented = ops.post!.responses['200']!.content!;
      assert.ok(Object.keys(documented).includes(type), `${path} answered ${type}, a documented type`);
      const validate = new Ajv2020({ strict: false }).compile(documented['application/json']!.schema!);
      assert.ok(validate(res.body), `${path}: the answer has the documented shape: ${JSON.stringify(validate.errors)}`);
      for (const status of Object.keys(ops.post!.responses).filter((s) => s !== '200')) assert.ok(Number(status) >= 400, `${path}: error ${status}`);
    }
  });

  it('documents the error table and the GET routes, which answer', async () => {
    const statuses = Object.keys(document.paths['/v1/classify']!.post!.responses);
    for (const status of ['400', '404', '413', '429', '503', '504']) assert.ok(statuses.includes(status), status);
    for (const [path, ops] of Object.entries(document.paths)) {
      if (!ops.get || path.includes('{')) continue;
      const res = await request(server.http).get(path);
      assert.ok(res.status === 200 || (path === '/readyz' && res.status === 503), `${path}: ${res.status}`);
    }
  });

  it('serves Swagger UI at /docs from node_modules', async () => {
    const page = await request(server.http).get('/docs').expect(200);
    assert.match(page.text, /swagger-ui-bundle\.js/);
    assert.doesNotMatch(page.text, /https?:\/\//, 'no CDN');
    await request(server.http).get('/docs/assets/swagger-ui-bundle.js').expect(200).expect('content-type', /javascript/);
    await request(server.http).get('/docs/assets/swagger-ui.css').expect(200).expect('content-type', /css/);
    await request(server.http).get('/docs/init.js').expect(200).expect(/openapi\.json/);
  });
});
