import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { status, type ServiceError } from '@grpc/grpc-js';
import descriptor from 'protobufjs/ext/descriptor/index.js';
import request from 'supertest';
import { INFERENCE_SERVICE } from '../../src/server/grpc/proto-files.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { heldLoader } from '../helpers/held-loader.js';
import { healthClient, inferenceClient, reflectionClient, unary } from '../helpers/grpc-client.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';
import { quietLogger, startTestServer, testConfig } from '../helpers/test-server.js';

const rejection = async (promise: Promise<unknown>): Promise<ServiceError> => {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected the call to fail');
};

describe('gRPC InferenceService', () => {
  let server: RunningServer;
  let client: ReturnType<typeof inferenceClient>;
  let chelsea: Buffer;

  before(async () => {
    server = await startTestServer(['--model-dir', `vit-tiny=${await tinyVitDir()}`], {
      limits: { jsonBodyBytes: 1 << 20, imageBytes: 1 << 20, maxImagePixels: 5e7, grpcMaxMessageBytes: 512 * 1024 },
    });
    client = inferenceClient(server.grpcPort);
    chelsea = await readFile(sharedImage('chelsea.png'));
  });
  after(async () => {
    client.close();
    await server.close();
  });

  it('classifies, and agrees with HTTP on the same request', async () => {
    const response = await unary(client, 'Classify', { image: chelsea, top_k: 3 });
    assert.equal(response.model, 'vit-tiny');
    assert.equal(response.predictions.length, 3);
    assert.equal(response.random_weights, true);
    assert.equal(response.timing.batch_size, 1);
    const http = await request(server.http).post('/v1/classify').field('top_k', '3').attach('image', chelsea, 'c.png').expect(200);
    assert.deepEqual(response.predictions, http.body.predictions);
  });

  it('uses the HTTP default when top_k is unset (proto3 optional), and clamps like HTTP', async () => {
    assert.equal((await unary(client, 'Classify', { image: chelsea })).predictions.length, 5);
    assert.equal((await unary(client, 'Classify', { image: chelsea, top_k: 500 })).predictions.length, 10);
  });

  it('lists the models like GET /v1/models', async () => {
    const response = await unary(client, 'ListModels', {});
    const http = await request(server.http).get('/v1/models').expect(200);
    assert.equal(response.models.length, 1);
    const [model] = response.models;
    assert.equal(model.id, 'vit-tiny');
    assert.equal(model.state, 'ready');
    assert.equal(model.execution_provider, 'cpu');
    assert.equal(http.body.object, 'list', 'HTTP answers in the OpenAI list shape');
    const [listed] = http.body.data;
    assert.equal(listed.id, 'vit-tiny');
    assert.equal(listed.object, 'model');
    assert.equal(typeof listed.owned_by, 'string');
    assert.ok(Math.abs(listed.created - Date.now() / 1000) < 600, `created ${listed.created} is a Unix time in seconds`);
    assert.equal(model.num_labels, listed.num_labels);
    assert.equal(model.variant, listed.variant);
    assert.equal(model.batching.max_batch_size, listed.batching.max_batch_size);
  });

  it('maps errors from the one table', async () => {
    const badImage = await rejection(unary(client, 'Classify', { image: Buffer.from('not an image') }));
    assert.equal(badImage.code, status.INVALID_ARGUMENT);
    assert.deepEqual(badImage.metadata.get('error-code'), ['invalid_image']);
    const empty = await rejection(unary(client, 'Classify', {}));
    assert.equal(empty.code, status.INVALID_ARGUMENT);
    const zeroTopK = await rejection(unary(client, 'Classify', { image: chelsea, top_k: 0 }));
    assert.equal(zeroTopK.code, status.INVALID_ARGUMENT, 'an explicit 0 is not "unset"');
    const unknown = await rejection(unary(client, 'Classify', { image: chelsea, model: 'resnet' }));
    assert.equal(unknown.code, status.NOT_FOUND);
    assert.match(unknown.details, /vit-tiny/);
  });

  it('refuses a message over the size limit with RESOURCE_EXHAUSTED', async () => {
    const huge = Buffer.alloc(600 * 1024, 1);
    const error = await rejection(unary(client, 'Classify', { image: huge }));
    assert.equal(error.code, status.RESOURCE_EXHAUSTED);
  });

  it('counts requests with transport="grpc"', async () => {
    // Counters as /metrics shows them; a series not yet created counts 0.
    const counts = async () => {
      const text = (await request(server.http).get('/metrics')).text;
      const count = (model: string, code: string) => {
        const variant = model === 'unknown' ? 'unknown' : 'fp32';
        const line = `mms_requests_total{model="${model}",variant="${variant}",task="image-classification",transport="grpc",code="${code}"} `;
        const found = text.split('\n').find((l) => l.startsWith(line));
        return found === undefined ? 0 : Number(found.slice(line.length));
      };
      return { ok: count('vit-tiny', 'ok'), invalidImage: count('vit-tiny', 'invalid_image'), unknown: count('unknown', 'model_not_found') };
    };
    const was = await counts();
    await unary(client, 'Classify', { image: chelsea, top_k: 1 });
    assert.equal((await rejection(unary(client, 'Classify', { image: Buffer.from('not an image') }))).code, status.INVALID_ARGUMENT);
    assert.equal((await rejection(unary(client, 'Classify', { image: chelsea, model: 'resnet' }))).code, status.NOT_FOUND);
    const now = await counts();
    assert.deepEqual(
      { ok: now.ok - was.ok, invalidImage: now.invalidImage - was.invalidImage, unknown: now.unknown - was.unknown },
      { ok: 1, invalidImage: 1, unknown: 1 },
    );
  });

  it('lists the service and resolves its file descriptor through reflection', async () => {
    const reflection = reflectionClient(server.grpcPort);
    try {
      const stream = reflection.ServerReflectionInfo!.call(reflection);
      const responses: any[] = [];
      const done = new Promise<void>((resolve, reject) => {
        stream.on('data', (r: unknown) => {
          responses.push(r);
          if (responses.length === 2) resolve();
        });
        stream.on('error', reject);
      });
      stream.write({ list_services: '' });
      stream.write({ file_containing_symbol: INFERENCE_SERVICE });
      await done;
      stream.end();
      const services = responses[0].list_services_response.service.map((s: { name: string }) => s.name);
      assert.ok(services.includes(INFERENCE_SERVICE), services.join(', '));
      assert.ok(services.includes('grpc.health.v1.Health'), 'services.includes(\'grpc.health.v1.Health\')');
      const files = responses[1].file_descriptor_response.file_descriptor_proto.map((bytes: Uint8Array) =>
        (descriptor as any).FileDescriptorProto.decode(bytes),
      );
      const inference = files.find((f: { package: string }) => f.package === 'multimodal.v1');
      assert.ok(inference, 'the multimodal.v1 file descriptor came back');
      assert.deepEqual(inference.service[0].method.map((m: { name: string }) => m.name), ['Classify', 'ZeroShot', 'Embed', 'Explain', 'Localize', 'Caption', 'CaptionStream', 'Chat', 'FitAlignment', 'ListAlignments', 'DeleteAlignment', 'ListModels']);
    } finally {
      reflection.close();
    }
  });
});

describe('gRPC health and deadlines', () => {
  it('says NOT_SERVING before warm-up and SERVING after', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = heldLoader();
    const server = await startServer(testConfig(['--model-dir', await tinyVitDir()]), quietLogger(), {
      loader: async (spec, deps) => {
        await gate;
        return held.loader(spec, deps);
      },
    });
    const health = healthClient(server.grpcPort);
    try {
      assert.equal((await unary(health, 'Check', { service: '' })).status, 'NOT_SERVING');
      assert.equal((await unary(health, 'Check', { service: INFERENCE_SERVICE })).status, 'NOT_SERVING');
      release();
      await server.loaded;
      assert.equal((await unary(health, 'Check', { service: '' })).status, 'SERVING');
      assert.equal((await unary(health, 'Check', { service: INFERENCE_SERVICE })).status, 'SERVING');
    } finally {
      release();
      held.release();
      health.close();
      await server.close();
    }
  });

  it('a deadline cancels the call and its item leaves the queue', async () => {
    const held = heldLoader();
    const server = await startServer(testConfig(['--model-dir', 'vit=' + (await tinyVitDir()), '--instances', '1', '--max-batch-size', '1']), quietLogger(), {
      loader: held.loader,
    });
    const client = inferenceClient(server.grpcPort);
    try {
      await server.loaded;
      const photo = await readFile(sharedImage('coffee.png'));
      const running = unary(client, 'Classify', { image: photo });
      while (held.held === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      const error = await rejection(unary(client, 'Classify', { image: photo }, 100));
      assert.equal(error.code, status.DEADLINE_EXCEEDED);
      const batcher = server.registry.get('vit')!.loaded!.components.model!.batcher;
      while (batcher.queueDepth > 0) await new Promise((resolve) => setTimeout(resolve, 2));
      held.release();
      await running;
      const text = (await request(server.http).get('/metrics')).text;
      assert.match(text, /^mms_items_processed_total\{model="vit",component="model",variant="fp32"\} 1$/m, 'the expired call never ran');
    } finally {
      held.release();
      client.close();
      await server.close();
    }
  });
});
