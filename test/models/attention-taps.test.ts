import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import ort from 'onnxruntime-node';
import { AttentionUnavailableError, findAttentionTaps } from '../../src/models/attention/attention-taps.js';
import { readAttentionGraph, tapNames } from '../../src/models/attention/attention-graph.js';
import { buildClipVisionGraph, buildVitGraph, CLIP_TINY, OnnxGraphBuilder, VIT_TINY } from '../../src/models/generator/index.js';
import { readGraphSummary } from '../../src/models/onnx/graph-summary.js';
import { readModelWithAdditions } from '../../src/models/onnx/model-with-additions.js';

const S = VIT_TINY.imageSize;
const TOKENS = (S / VIT_TINY.patchSize) ** 2 + 1;

/** A smooth input with some texture, so attention is not uniform. */
function pixels(batch: number): Float32Array {
  const out = new Float32Array(batch * 3 * S * S);
  for (let i = 0; i < out.length; i++) out[i] = Math.sin(i * 0.0137) * 0.8 + Math.cos(i * 0.00071) * 0.2;
  return out;
}

function assertClose(actual: Float32Array, expected: Float32Array, tolerance: number): void {
  assert.equal(actual.length, expected.length);
  const worst = Math.max(...actual.map((value, i) => Math.abs(value - expected[i]!)));
  assert.ok(worst <= tolerance, `max difference ${worst} > ${tolerance}`);
}

describe('attention taps (graph surgery)', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-taps-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('finds one Softmax and one output per ViT layer, in layer order', () => {
    const taps = findAttentionTaps(readGraphSummary(buildVitGraph(VIT_TINY).toBytes()), 'tiny', VIT_TINY.numLayers);
    assert.deepEqual(taps.attention, [0, 1].map((i) => `/vit/encoder/layer.${i}/attention/attention/Softmax_output_0`));
    assert.deepEqual(taps.hiddenStates, [0, 1].map((i) => `/vit/encoder/layer.${i}/output/Add_output_0`));
  });

  it('finds them in a CLIP vision tower (layers.N scopes)', () => {
    const taps = findAttentionTaps(readGraphSummary(buildClipVisionGraph(CLIP_TINY).toBytes()), 'clip');
    const layers = Array.from({ length: taps.attention.length }, (_, i) => i);
    assert.ok(layers.length >= 2);
    assert.deepEqual(taps.attention, layers.map((i) => `/vision_model/encoder/layers.${i}/self_attn/Softmax_output_0`));
    assert.deepEqual(taps.hiddenStates, layers.map((i) => `/vision_model/encoder/layers.${i}/Add_1_output_0`));
  });

  it('adds them as outputs that the session computes only when asked, leaving logits unchanged', async () => {
    const file = path.join(dir, 'vit.onnx');
    await buildVitGraph(VIT_TINY).save(file);
    const { taps, additions } = await readAttentionGraph(file, 'tiny', { expectedLayers: VIT_TINY.numLayers });
    assert.ok(!(taps instanceof AttentionUnavailableError));
    assert.deepEqual(additions.outputs, tapNames(taps));
    const plain = await ort.InferenceSession.create(file);
    const tapped = await ort.InferenceSession.create(await readModelWithAdditions(file, additions));
    assert.deepEqual(tapped.outputNames, ['logits', ...taps.attention, ...taps.headMeans!, ...(taps.hiddenStates as string[])]);

    const feeds = { pixel_values: new ort.Tensor('float32', pixels(2), [2, 3, S, S]) };
    const [expected, onlyLogits, withAttention] = [
      await plain.run(feeds),
      await tapped.run(feeds, ['logits']),
      await tapped.run(feeds, ['logits', taps.attention[1]!]),
    ];
    assert.deepEqual(Object.keys(onlyLogits), ['logits']);
    // Exposed tensors keep onnxruntime from fusing across them: the same maths, rounded differently.
    assertClose(onlyLogits.logits!.data as Float32Array, expected.logits!.data as Float32Array, 1e-5);
    assertClose(withAttention.logits!.data as Float32Array, expected.logits!.data as Float32Array, 1e-5);

    const attention = withAttention[taps.attention[1]!]!;
    assert.deepEqual(attention.dims, [2, VIT_TINY.numHeads, TOKENS, TOKENS]);
    const probs = attention.data as Float32Array;
    for (let row = 0; row < probs.length / TOKENS; row++) {
      let sum = 0;
      for (let j = 0; j < TOKENS; j++) sum += probs[row * TOKENS + j]!;
      assert.ok(Math.abs(sum - 1) < 1e-4, `row ${row} sums to ${sum}`);
    }

    // The head mean added in the graph is the mean of the heads' probabilities.
    const mean = (await tapped.run(feeds, [taps.headMeans![1]!]))[taps.headMeans![1]!]!;
    assert.deepEqual(mean.dims, [2, TOKENS, TOKENS]);
    const square = TOKENS * TOKENS;
    const expectedMean = Float32Array.from({ length: 2 * square }, (_, i) => {
      const [b, at] = [Math.floor(i / square), i % square];
      let total = 0;
      for (let h = 0; h < VIT_TINY.numHeads; h++) total += probs[(b * VIT_TINY.numHeads + h) * square + at]!;
      return total / VIT_TINY.numHeads;
    });
    assertClose(mean.data as Float32Array, expectedMean, 1e-6);
    await Promise.all([plain.release(), tapped.release()]);
  });

  it('loads from bytes with the weights in an external data file', async () => {
    const sub = path.join(dir, 'external');
    await mkdir(sub);
    const file = path.join(sub, 'model.onnx');
    await buildVitGraph(VIT_TINY).save(file, { externalDataThreshold: 1000 });
    const taps = findAttentionTaps(readGraphSummary(await readFile(file)), 'external');
    const session = await ort.InferenceSession.create(await readModelWithAdditions(file, { outputs: taps.attention }), {
      extra: { session: { model_external_initializers_file_folder_path: sub } },
    });
    const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels(1), [1, 3, S, S]) }, [taps.attention[0]!]);
    assert.deepEqual(out[taps.attention[0]!]!.dims, [1, VIT_TINY.numHeads, TOKENS, TOKENS]);
    await session.release();
  });

  it('projects every token of a CLIP vision tower: the CLS row of patch_embeds is image_embeds', async () => {
    const file = path.join(dir, 'vision_model.onnx');
    await buildClipVisionGraph(CLIP_TINY).save(file);
    const { patchEmbeds, additions } = await readAttentionGraph(file, 'clip', { embedsOutput: 'image_embeds' });
    assert.equal(patchEmbeds, 'patch_embeds');
    const session = await ort.InferenceSession.create(await readModelWithAdditions(file, additions));
    const size = CLIP_TINY.imageSize;
    const out = await session.run({ pixel_values: new ort.Tensor('float32', pixels(2).subarray(0, 2 * 3 * size * size), [2, 3, size, size]) }, ['image_embeds', 'patch_embeds']);
    const tokens = (size / CLIP_TINY.patchSize) ** 2 + 1;
    const dim = CLIP_TINY.projectionDim;
    assert.deepEqual(out.patch_embeds!.dims, [2, tokens, dim]);
    const image = out.image_embeds!.data as Float32Array;
    const patches = out.patch_embeds!.data as Float32Array;
    for (let b = 0; b < 2; b++) {
      assertClose(patches.subarray(b * tokens * dim, b * tokens * dim + dim), image.subarray(b * dim, (b + 1) * dim), 1e-4);
    }
    await session.release();
  });

  it('names the model and how to export it when attention is fused', () => {
    const g = new OnnxGraphBuilder({ graphName: 'fused' });
    const x = g.input('x', 'float32', ['batch', 197, 32]);
    const w = g.initializer('w', 'float32', [32, 96], new Float32Array(32 * 96));
    g.node('Attention', [x, w], { name: '/encoder/layer.0/attention/Attention', domain: 'com.microsoft', outputs: ['y'], attrs: { num_heads: 2 } });
    g.output('y', 'float32', ['batch', 197, 32]);
    assert.throws(
      () => findAttentionTaps(readGraphSummary(g.toBytes()), 'model /m/fused'),
      (error: Error) =>
        error instanceof AttentionUnavailableError &&
        /model \/m\/fused: its attention is fused \(Attention nodes/.test(error.message) &&
        /attn_implementation="eager"/.test(error.message),
    );
  });

  it('refuses a Softmax count that does not match the config, and falls back to graph order without scopes', () => {
    const g = new OnnxGraphBuilder({ graphName: 'anonymous' });
    let x = g.input('x', 'float32', ['batch', 4, 4]);
    for (let i = 0; i < 3; i++) x = g.op('Softmax', [x], { name: `Softmax_${i}`, attrs: { axis: -1 } });
    g.output(x, 'float32', ['batch', 4, 4]);
    const summary = readGraphSummary(g.toBytes());
    assert.throws(() => findAttentionTaps(summary, 'm', 2), /found 3 Softmax nodes but config.json says 2 layers/);
    const taps = findAttentionTaps(summary, 'm', 3);
    assert.deepEqual(taps.attention, summary.nodes.map((n) => n.outputs[0]));
    assert.deepEqual(taps.hiddenStates, [undefined, undefined, undefined]);
  });
});
