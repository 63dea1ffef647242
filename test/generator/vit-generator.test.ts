import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { buildVitGraph, ensureVitModel, SeededRandom, VIT_TINY, type VitSpec } from '../../src/models/generator/index.js';

const { onnx } = onnxProto;
const spec = VIT_TINY;
const S = spec.imageSize;
const IMAGE = 3 * S * S;

/** A smooth image-like input in [-1, 1] (what normalised photos look like), varied by seed. */
function image(seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  const [fx, fy, phase] = [rng.next() * 0.1, rng.next() * 0.1, rng.next() * 6];
  const out = new Float32Array(IMAGE);
  for (let c = 0; c < 3; c++)
    for (let y = 0; y < S; y++)
      for (let x = 0; x < S; x++) out[c * S * S + y * S + x] = Math.sin(fx * x + fy * y * (c + 1) + phase) * 0.8 + rng.normal() * 0.1;
  return out;
}

function stats(values: Float32Array): { mean: number; std: number; argmax: number } {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const std = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length);
  return { mean, std, argmax: values.indexOf(Math.max(...values)) };
}

describe('generated ViT (tiny)', () => {
  let cacheDir: string;
  let modelDir: string;
  let session: ort.InferenceSession;

  const run = async (pixels: Float32Array, batch: number): Promise<Float32Array> => {
    const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels, [batch, 3, S, S]) });
    assert.deepEqual(out.logits?.dims, [batch, spec.numLabels]);
    return out.logits!.data as Float32Array;
  };

  before(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'vit-generator-test-'));
    modelDir = await ensureVitModel(spec, { cacheDir });
    session = await ort.InferenceSession.create(path.join(modelDir, 'onnx', 'model.onnx'));
  });

  after(async () => {
    await session?.release();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  test('session names and metadata match the HF export contract', () => {
    assert.deepEqual(session.inputNames, ['pixel_values']);
    assert.deepEqual(session.outputNames, ['logits']);
    const input = session.inputMetadata[0];
    assert.ok(input?.isTensor, 'input?.isTensor');
    assert.equal(input.name, 'pixel_values');
    assert.equal(input.type, 'float32');
    assert.deepEqual(input.shape, ['batch_size', 3, S, S]);
    const output = session.outputMetadata[0];
    assert.ok(output?.isTensor, 'output?.isTensor');
    assert.deepEqual(output.shape, ['batch_size', spec.numLabels]);
  });

  test('a batch of 3 equals 3 single runs; logits finite, std 1–6, image-dependent', async () => {
    const images = [image(1), image(2), image(3)];
    const singles: Float32Array[] = [];
    for (const img of images) singles.push(await run(img, 1));
    const batched = new Float32Array(3 * IMAGE);
    images.forEach((img, i) => batched.set(img, i * IMAGE));
    const batch = await run(batched, 3);
    singles.forEach((single, i) => {
      single.forEach((v, j) => assert.ok(Math.abs(v - batch[i * spec.numLabels + j]!) < 1e-4, `item ${i} logit ${j}`));
      assert.ok(single.every(Number.isFinite), 'single.every(Number.isFinite)');
      const { std } = stats(single);
      assert.ok(std > 1 && std < 6, `logits std ${std}`);
    });
    const [a, b] = [singles[0]!, singles[1]!];
    const maxDiff = Math.max(...a.map((v, j) => Math.abs(v - b[j]!)));
    assert.ok(stats(a).argmax !== stats(b).argmax || maxDiff > 0.5, `different images, max logit difference ${maxDiff}`);
  });

  test('one Softmax per layer, named with the layer index like the real export', async () => {
    const model = onnx.ModelProto.decode(await readFile(path.join(modelDir, 'onnx', 'model.onnx')));
    assert.equal(model.irVersion.toString(), '8');
    assert.equal(Number(model.opsetImport[0]?.version), 17);
    const nodes = model.graph?.node ?? [];
    const softmaxes = nodes.filter((n) => n.opType === 'Softmax');
    assert.deepEqual(
      softmaxes.map((n) => n.name),
      Array.from({ length: spec.numLayers }, (_, i) => `/vit/encoder/layer.${i}/attention/attention/Softmax`),
    );
    for (const node of softmaxes) assert.equal(Number(node.attribute?.find((a) => a.name === 'axis')?.i), -1);
    assert.ok(nodes.every((n) => typeof n.name === 'string' && n.name.length > 0), 'every node has a name');
    assert.equal(new Set(nodes.map((n) => n.name)).size, nodes.length, 'node names are unique');
  });

  test('config.json and preprocessor_config.json', async () => {
    const config = JSON.parse(await readFile(path.join(modelDir, 'config.json'), 'utf8'));
    assert.equal(config.model_type, 'vit');
    assert.deepEqual(config.architectures, ['ViTForImageClassification']);
    assert.equal(Object.keys(config.id2label).length, spec.numLabels);
    assert.equal(config.id2label['7'], 'random class 7');
    assert.equal(config.label2id['random class 7'], 7);
    assert.deepEqual(config._generated, { random_weights: true, seed: spec.seed, generator: 'multimodal-inference-server' });
    const pre = JSON.parse(await readFile(path.join(modelDir, 'preprocessor_config.json'), 'utf8'));
    assert.equal(pre.image_processor_type, 'ViTImageProcessor');
    assert.deepEqual(pre.size, { height: S, width: S });
    const legacyDir = await ensureVitModel(spec, { cacheDir, preprocessor: 'legacy' });
    assert.notEqual(legacyDir, modelDir);
    const legacy = JSON.parse(await readFile(path.join(legacyDir, 'preprocessor_config.json'), 'utf8'));
    assert.equal(legacy.feature_extractor_type, 'ViTFeatureExtractor');
    assert.equal(legacy.size, S);
    assert.equal(legacy.do_rescale, undefined);
  });

  test('cache hit returns the same folder without rewriting', async () => {
    const file = path.join(modelDir, 'onnx', 'model.onnx');
    const before = await stat(file);
    assert.equal(await ensureVitModel({ ...spec }, { cacheDir }), modelDir);
    const again = await stat(file);
    assert.equal(again.mtimeMs, before.mtimeMs);
    assert.equal(again.ino, before.ino);
  });

  test('same seed gives identical bytes, another seed different ones', async () => {
    const model = await readFile(path.join(modelDir, 'onnx', 'model.onnx'));
    assert.ok(Buffer.from(buildVitGraph(spec).toBytes()).equals(model), 'Buffer.from(buildVitGraph(spec).toBytes()).equals(model)');
    const otherSeed: VitSpec = { ...spec, seed: spec.seed + 1 };
    const otherDir = await ensureVitModel(otherSeed, { cacheDir });
    assert.notEqual(otherDir, modelDir);
    const other = await readFile(path.join(otherDir, 'onnx', 'model.onnx'));
    assert.equal(other.length, model.length);
    assert.ok(!other.equals(model), '!other.equals(model)');
  });

  test('external data: weights in model.onnx_data load and give the same logits', async () => {
    const file = path.join(cacheDir, 'external', 'model.onnx');
    await rm(path.dirname(file), { recursive: true, force: true });
    await mkdir(path.dirname(file));
    await buildVitGraph(spec).save(file, { externalDataThreshold: 0 });
    const inline = (await stat(path.join(modelDir, 'onnx', 'model.onnx'))).size;
    assert.ok((await stat(`${file}_data`)).size > 0.8 * inline, 'weights went to model.onnx_data');
    assert.ok((await stat(file)).size < 0.2 * inline, 'model.onnx keeps only the graph and small constants');
    const external = await ort.InferenceSession.create(file);
    try {
      const pixels = image(4);
      const out = await external.run({ pixel_values: new ort.Tensor('float32', pixels, [1, 3, S, S]) });
      const expected = await run(pixels, 1);
      (out.logits!.data as Float32Array).forEach((v, j) => assert.ok(Math.abs(v - expected[j]!) < 1e-5));
    } finally {
      await external.release();
    }
  });
});
