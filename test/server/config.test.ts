import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadConfig, modelSettings } from '../../src/server/config.js';
import { planLayouts } from '../../src/server/thread-budget.js';

describe('settings precedence: flags > environment > config file > model defaults', () => {
  let dir: string;
  let configFile: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-config-'));
    configFile = path.join(dir, 'server.json');
    await writeFile(
      configFile,
      JSON.stringify({
        port: 9000,
        grpc_port: 9001,
        providers: ['cuda', 'cpu'],
        models: [{ id: 'vit', dir: 'models/vit', max_batch_size: 4, instances: 3 }],
      }),
    );
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('takes the config file over the defaults, resolving model folders next to the file', () => {
    const config = loadConfig(['--config', configFile], {});
    assert.equal(config.port, 9000);
    assert.equal(config.grpcPort, 9001);
    const [model] = config.models;
    assert.deepEqual(model?.source, { kind: 'dir', dir: path.join(dir, 'models/vit') });
    assert.equal(model?.maxBatchSize, 4);
    assert.equal(model?.maxQueueSize, undefined, 'unset values are left to the manifest and model defaults');
    assert.deepEqual(model?.providers, ['cuda', 'cpu']);
    assert.equal(model?.instances, 3);
  });

  it('takes the environment over the config file', () => {
    const config = loadConfig(['--config', configFile], { PORT: '7000', MMS_MAX_BATCH_SIZE: '16', MMS_PROVIDERS: 'cpu' });
    assert.equal(config.port, 7000);
    assert.equal(config.grpcPort, 9001);
    assert.equal(config.models[0]?.maxBatchSize, 16);
    assert.deepEqual(config.models[0]?.providers, ['cpu']);
  });

  it('keeps a file entry\'s settings when a flag names the same model id', () => {
    const config = loadConfig(['--config', configFile, '--model-dir', 'vit=/elsewhere/vit'], {});
    assert.deepEqual(config.models[0]?.source, { kind: 'dir', dir: '/elsewhere/vit' });
    assert.equal(config.models[0]?.maxBatchSize, 4, 'max_batch_size from the file entry');
    assert.equal(config.models[0]?.instances, 3);
  });

  it('runs an untagged model in its providers\' default dtype: fp16 on a GPU, fp32 on CPU', async () => {
    const ids = (config: ReturnType<typeof loadConfig>) => config.models.map((m) => [m.id, m.variant, m.defaultVariant]);
    const file = path.join(dir, 'dtypes.json');
    await writeFile(file, JSON.stringify({ models: [{ id: 'vit', dir: 'v' }, { id: 'vit', dir: 'v', variant: 'fp32' }, { id: 'vit', dir: 'v', variant: 'quantized' }] }));
    const gpu = loadConfig(['--config', file, '--providers', 'cuda,cpu'], {});
    assert.deepEqual(ids(gpu), [
      ['vit', 'fp16', true],
      ['vit:fp32', 'fp32', false],
      ['vit:q8', 'q8', false],
    ]);
    assert.throws(() => loadConfig(['--config', file], {}), /two models share the id 'vit'/, 'on CPU the bare id is fp32 already');
    const cpu = loadConfig(['--model-dir', 'vit=v', '--model', 'other:q8'], {});
    assert.deepEqual(ids(cpu), [
      ['vit', 'fp32', true],
      ['other:q8', 'q8', false],
    ]);
    const tensorrt = loadConfig(['--model', 'some-model', '--model', 'some-model:fp32'], { MMS_PROVIDERS: 'tensorrt,cuda,cpu' });
    assert.deepEqual(ids(tensorrt), [
      ['some-model', 'fp16', true],
      ['some-model:fp32', 'fp32', false],
    ]);
  });

  it('takes MMS_REQUIRE_PROVIDER over the config file', async () => {
    const file = path.join(dir, 'require.json');
    await writeFile(file, JSON.stringify({ require_provider: true, models: [{ id: 'a', dir: 'a', require_provider: true }] }));
    assert.equal(loadConfig(['--config', file], { MMS_REQUIRE_PROVIDER: '0' }).models[0]?.requireProvider, false);
    assert.equal(loadConfig(['--config', file], {}).models[0]?.requireProvider, true);
    assert.equal(loadConfig(['--model-dir', '/m/a'], { MMS_REQUIRE_PROVIDER: 'true' }).models[0]?.requireProvider, true);
  });

  it('reads MMS_PULL with the boolean parser, under the --pull flag', () => {
    assert.equal(loadConfig([], {}).pull, false);
    assert.equal(loadConfig([], { MMS_PULL: '1' }).pull, true);
    assert.equal(loadConfig([], { MMS_PULL: 'true' }).pull, true);
    assert.equal(loadConfig([], { MMS_PULL: 'YES' }).pull, true);
    assert.equal(loadConfig([], { MMS_PULL: '0' }).pull, false);
    assert.equal(loadConfig([], { MMS_PULL: 'false' }).pull, false);
    assert.equal(loadConfig([], { MMS_PULL: '' }).pull, false, 'empty is unset');
    assert.equal(loadConfig(['--pull'], { MMS_PULL: 'no' }).pull, true, 'the flag wins over the environment');
    assert.throws(() => loadConfig([], { MMS_PULL: 'maybe' }), /MMS_PULL must be 1\/true or 0\/false, got 'maybe'/);
  });

  it('reads the robustness limits from the environment over the config file, with defaults', async () => {
    const defaults = loadConfig([], {}).limits;
    assert.equal(defaults.decodeTimeoutMs, 10_000);
    assert.equal(defaults.headersTimeoutMs, 10_000);
    assert.equal(defaults.bodyTimeoutMs, 60_000);
    assert.equal(defaults.maxInFlightPerClient, 64);
    assert.ok(defaults.pixelBudgetBytes >= 256 * 2 ** 20 && defaults.pixelBudgetBytes <= 4096 * 2 ** 20);
    assert.equal(loadConfig([], {}).drainTimeoutMs, 25_000);
    const file = path.join(dir, 'limits.json');
    await writeFile(file, JSON.stringify({ drain_timeout_ms: 100, limits: { decode_timeout_ms: 3000, pixel_budget_bytes: 2 ** 30, max_prompts: 10 } }));
    const fromFile = loadConfig(['--config', file], {});
    assert.deepEqual([fromFile.limits.decodeTimeoutMs, fromFile.limits.pixelBudgetBytes, fromFile.limits.maxPrompts, fromFile.drainTimeoutMs], [3000, 2 ** 30, 10, 100]);
    const fromEnv = loadConfig(['--config', file], { MMS_DECODE_TIMEOUT_MS: '2500', MMS_PIXEL_BUDGET_BYTES: String(2 ** 29), MMS_DRAIN_TIMEOUT_MS: '5' });
    assert.deepEqual([fromEnv.limits.decodeTimeoutMs, fromEnv.limits.pixelBudgetBytes, fromEnv.drainTimeoutMs], [2500, 2 ** 29, 5]);
    assert.throws(() => loadConfig([], { MMS_DECODE_TIMEOUT_MS: '10' }), /MMS_DECODE_TIMEOUT_MS must be an integer ≥ 1000/);
  });

  it('applies flags and environment to models added later (the demo)', () => {
    const config = loadConfig(['--demo', '--max-batch-size', '8', '--providers', 'cuda,cpu'], {});
    const demo = modelSettings({ id: 'vit-demo', dir: '/tmp/demo' }, config.modelOverrides, config.fileDefaults);
    assert.equal(demo.maxBatchSize, 8);
    assert.deepEqual(demo.providers, ['cuda', 'cpu']);
  });

  it('takes flags over the environment', () => {
    const config = loadConfig(['--config', configFile, '--port', '6000', '--max-batch-size', '2'], { PORT: '7000', MMS_MAX_BATCH_SIZE: '16' });
    assert.equal(config.port, 6000);
    assert.equal(config.models[0]?.maxBatchSize, 2);
  });

  it('uses --model-dir over the config file models, naming them by folder or id=', () => {
    const config = loadConfig(['--config', configFile, '--model-dir', '/m/vit-base', '--model-dir', 'mine=/m/other'], {});
    assert.deepEqual(
      config.models.map((m) => [m.id, m.source]),
      [
        ['vit-base', { kind: 'dir', dir: '/m/vit-base' }],
        ['mine', { kind: 'dir', dir: '/m/other' }],
      ],
    );
  });

  it('takes catalog ids with an optional variant', () => {
    const config = loadConfig(['--model', 'vit-base-patch16-224:quantized', '--pull'], { MMS_CACHE_DIR: '/c' });
    assert.deepEqual(config.models[0]?.source, { kind: 'catalog', catalogId: 'vit-base-patch16-224' });
    assert.equal(config.models[0]?.variant, 'q8', '`quantized` is an alias of q8');
    assert.equal(config.models[0]?.id, 'vit-base-patch16-224:q8');
    assert.equal(config.pull, true);
    assert.throws(() => loadConfig(['--model', 'vit:int3'], {}), /--model vit:int3/);
  });

  it('serves one model in several dtypes side by side, the default one under the bare id', () => {
    const config = loadConfig(['--model', 'vit-base-patch16-224', '--model', 'vit-base-patch16-224:q8', '--model', 'vit-base-patch16-224:fp16'], {});
    assert.deepEqual(
      config.models.map((m) => [m.id, m.variant]),
      [
        ['vit-base-patch16-224', 'fp32'],
        ['vit-base-patch16-224:q8', 'q8'],
        ['vit-base-patch16-224:fp16', 'fp16'],
      ],
    );
    // Both names of one tag are one model.
    assert.throws(() => loadConfig(['--model', 'vit:q8', '--model', 'vit:quantized'], {}), /two models share the id 'vit:q8'/);
  });

  it('reads the Hugging Face variables as HF tools do', () => {
    assert.equal(loadConfig([], { HF_HOME: '/hf' }).hub.cacheDir, '/hf/hub');
    assert.equal(loadConfig([], { HF_HOME: '/hf', HF_HUB_CACHE: '/cache' }).hub.cacheDir, '/cache');
    const hub = loadConfig([], { HF_ENDPOINT: 'http://mirror.local/', HF_TOKEN: 'hf_x' }).hub;
    assert.equal(hub.endpoint, 'http://mirror.local');
    assert.equal(hub.token, 'hf_x');
  });

  it('fails with a readable message on bad input', () => {
    assert.throws(() => loadConfig(['--port', 'eighty'], {}), /--port must be an integer ≥ 0/);
    assert.throws(() => loadConfig(['--max-queue-size', '0'], {}), /--max-queue-size must be an integer ≥ 1/);
    assert.throws(() => loadConfig([], { MMS_THREADS: '0' }), /MMS_THREADS must be an integer ≥ 1/);
    assert.throws(() => loadConfig([], { MMS_REQUIRE_PROVIDER: 'maybe' }), /MMS_REQUIRE_PROVIDER/);
    assert.throws(() => loadConfig(['--providers', 'cuda,tpu'], {}), /unknown execution provider 'tpu'/);
    assert.throws(() => loadConfig(['--model-dir', 'a=/x', '--model-dir', 'a=/y'], {}), /two models share the id 'a'/);
    assert.throws(() => loadConfig(['--bogus'], {}), /bogus/);
  });
});

describe('thread budget', () => {
  it('gives one model one worker with every core, the measured best layout', () => {
    const { layouts, overCommitted } = planLayouts([{ id: 'a', instances: undefined, intraOpThreads: undefined }], 2);
    assert.deepEqual(layouts.get('a'), { instances: 1, intraOpThreads: 2 });
    assert.equal(overCommitted, false);
  });

  it('shares the cores among models and keeps explicit settings', () => {
    const { layouts, overCommitted } = planLayouts(
      [
        { id: 'a', instances: undefined, intraOpThreads: undefined },
        { id: 'b', instances: undefined, intraOpThreads: undefined },
      ],
      8,
    );
    assert.deepEqual(layouts.get('a'), { instances: 1, intraOpThreads: 4 });
    assert.deepEqual(layouts.get('b'), { instances: 1, intraOpThreads: 4 });
    assert.equal(overCommitted, false);
    assert.equal(planLayouts([{ id: 'a', instances: 4, intraOpThreads: 2 }], 2).overCommitted, true);
  });
});

describe('access and image-URL settings', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-access-config-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('are off by default, with the probes, metrics and pages open', () => {
    const config = loadConfig([], {});
    assert.equal(config.access.keysFile, undefined);
    assert.equal(config.access.envKeys, undefined);
    assert.deepEqual(config.access.openPaths, ['/healthz', '/readyz', '/metrics', '/', '/playground/', '/docs/', '/openapi.json']);
    assert.deepEqual(config.access.limits, { requestsPerSecond: undefined, burst: undefined, maxConcurrent: undefined });
    assert.equal(config.imageUrls.enabled, false);
  });

  it('take the environment over the config file, and refuse a rate of 0', async () => {
    const file = path.join(dir, 'server.json');
    await writeFile(
      file,
      JSON.stringify({
        auth: { keys_file: '/etc/mms/keys.json', requests_per_second: 5, trusted_proxies: ['10.0.0.0/8'] },
        image_urls: { enabled: true, allow_hosts: ['images.example.com'], max_redirects: 1 },
      }),
    );
    const fromFile = loadConfig(['--config', file], {});
    assert.equal(fromFile.access.keysFile, '/etc/mms/keys.json');
    assert.equal(fromFile.access.limits.requestsPerSecond, 5);
    assert.deepEqual(fromFile.access.trustedProxies, ['10.0.0.0/8']);
    assert.deepEqual([fromFile.imageUrls.enabled, fromFile.imageUrls.allowHosts, fromFile.imageUrls.maxRedirects], [true, ['images.example.com'], 1]);
    const fromEnv = loadConfig(['--config', file], { MMS_RATE_LIMIT_RPS: '2.5', MMS_TRUSTED_PROXIES: '127.0.0.1/32, ::1', MMS_IMAGE_URLS: '0', MMS_OPEN_PATHS: '/healthz' });
    assert.equal(fromEnv.access.limits.requestsPerSecond, 2.5);
    assert.deepEqual(fromEnv.access.trustedProxies, ['127.0.0.1/32', '::1']);
    assert.deepEqual(fromEnv.access.openPaths, ['/healthz']);
    assert.equal(fromEnv.imageUrls.enabled, false);
    assert.throws(() => loadConfig([], { MMS_RATE_LIMIT_RPS: '0' }), /MMS_RATE_LIMIT_RPS must be a number > 0/);
  });
});
