/**
 * The decoder rewrite that computes encoder projections once instead of at every step: on a
 * merged decoder with `If` branches (as optimum exports them) both branches read one set of
 * projections; shape computations stay; the split graphs compute what the original computes,
 * exactly, on a small graph and on the generated ViT-GPT2 decoder (fp32 and q8).
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { OnnxGraphBuilder } from '../../src/models/generator/onnx-graph-builder.js';
import { hoistEncoderProjections } from '../../src/models/onnx/hoist-encoder-projections.js';
import { WorkerPool } from '../../src/models/session/worker-pool.js';
import { tinyVitGpt2Dir } from '../helpers/test-models.js';

const { onnx } = onnxProto;
const WIDTH = 4;
const TOKENS = 3;

const values = (length: number, seed: number) => Float32Array.from({ length }, (_, i) => Math.sin(i * 0.71 + seed));

/**
 * y = If(use_cache_branch, then: attend(x) + x, else: attend(x)) where attend reads keys and
 * values MatMul(enc, Wkv) and scales by √(width) taken from their shape, as exports do.
 */
function mergedDecoder(): Uint8Array {
  const g = new OnnxGraphBuilder({ graphName: 'merged' });
  g.input('x', 'float32', ['batch', 1, WIDTH]);
  g.input('enc', 'float32', ['batch', TOKENS, WIDTH]);
  g.input('use_cache_branch', 'bool', [1]);
  const wkv = g.initializer('Wkv', 'float32', [WIDTH, WIDTH], values(WIDTH * WIDTH, 1));
  const wq = g.initializer('Wq', 'float32', [WIDTH, WIDTH], values(WIDTH * WIDTH, 2));
  const branch = (name: string, residual: boolean) => {
    const b = new OnnxGraphBuilder({ graphName: name });
    const kv = b.op('MatMul', ['enc', wkv], { name: '/kv/MatMul' });
    const kT = b.op('Transpose', [kv], { name: '/kv/Transpose', attrs: { perm: [0, 2, 1] } });
    const width = b.op('Gather', [b.op('Shape', [kv], { name: '/kv/Shape' }), b.constant('two', 'int64', [], [2])], { name: '/kv/Gather', attrs: { axis: 0 } });
    const scale = b.op('Sqrt', [b.op('Cast', [width], { name: '/Cast', attrs: { to: onnx.TensorProto.DataType.FLOAT } })], { name: '/Sqrt' });
    const q = b.op('MatMul', ['x', wq], { name: '/q/MatMul' });
    const probs = b.op('Softmax', [b.op('Div', [b.op('MatMul', [q, kT], { name: '/scores' }), scale], { name: '/Div' })], { name: '/Softmax', attrs: { axis: -1 } });
    const attended = b.op('MatMul', [probs, kv], { name: '/context' });
    b.op(residual ? 'Add' : 'Identity', residual ? [attended, 'x'] : [attended], { name: '/out', output: `${name}_y` });
    b.output(`${name}_y`, 'float32', ['batch', 1, WIDTH]);
    return b;
  };
  g.node('If', ['use_cache_branch'], { name: 'optimum::if', attrs: { then_branch: { graph: branch('with_past', true) }, else_branch: { graph: branch('no_past', false) } }, outputs: ['y'] });
  g.output('y', 'float32', ['batch', 1, WIDTH]);
  return g.toBytes();
}

type Feeds = Record<string, ort.Tensor>;

/** The original's outputs and the split pair's (projections first, then the decoder) for the same feeds. */
async function bothWays(bytes: Uint8Array, encoderInput: string, feeds: Feeds[], outputs: string[]): Promise<{ original: Float32Array[]; split: Float32Array[] }> {
  const hoisted = hoistEncoderProjections(onnx.ModelProto.decode(bytes), encoderInput);
  assert.ok(hoisted, 'something to hoist');
  const original = await ort.InferenceSession.create(bytes);
  const projections = await ort.InferenceSession.create(onnx.ModelProto.encode(hoisted.projections).finish());
  const decoder = await ort.InferenceSession.create(onnx.ModelProto.encode(hoisted.decoder).finish());
  const result = { original: [] as Float32Array[], split: [] as Float32Array[] };
  for (const feed of feeds) {
    const projected = await projections.run({ [encoderInput]: feed[encoderInput]! });
    const [a, b] = [await original.run(feed), await decoder.run({ ...feed, ...projected })];
    for (const name of outputs) {
      result.original.push(a[name]!.data as Float32Array);
      result.split.push(b[name]!.data as Float32Array);
    }
  }
  return result;
}

describe('hoisting encoder projections out of decoder steps', () => {
  it('splits a merged decoder: both If branches read one set of projections, shape ops stay, outputs equal', async () => {
    const bytes = mergedDecoder();
    const hoisted = hoistEncoderProjections(onnx.ModelProto.decode(bytes), 'enc')!;
    // The keys and values, and their transpose; one set for both branches.
    assert.deepEqual(hoisted.names, ['encoder_projection.0', 'encoder_projection.1']);
    assert.deepEqual(hoisted.projections.graph!.output!.map((o) => o.name), hoisted.names);
    assert.deepEqual(hoisted.decoder.graph!.initializer!.map((t) => t.name), ['Wq'], 'the projection weights left the decoder');
    const branches = hoisted.decoder.graph!.node![0]!.attribute!.map((a) => a.g!.node!.map((n) => n.opType));
    for (const ops of branches) {
      assert.ok(ops.includes('Shape'), 'the scale still comes from the shape, in the decoder');
      assert.equal(ops.filter((op) => op === 'MatMul').length, 3, 'queries, scores and context; no MatMul over the encoder input');
    }
    const batch = 2;
    const feeds = [false, true].map((cached) => ({
      x: new ort.Tensor('float32', values(batch * WIDTH, 3), [batch, 1, WIDTH]),
      enc: new ort.Tensor('float32', values(batch * TOKENS * WIDTH, 4), [batch, TOKENS, WIDTH]),
      use_cache_branch: new ort.Tensor('bool', Uint8Array.of(cached ? 1 : 0), [1]),
    }));
    const { original, split } = await bothWays(bytes, 'enc', feeds, ['y']);
    assert.deepEqual(split, original);
    assert.notDeepEqual(original[0], original[1], 'the branches differ');
  });

  it('leaves a graph alone when no product depends on the encoder input only', () => {
    const g = new OnnxGraphBuilder({ graphName: 'mixed' });
    g.input('x', 'float32', ['batch', TOKENS, WIDTH]);
    g.input('enc', 'float32', ['batch', TOKENS, WIDTH]);
    const mixed = g.op('MatMul', [g.op('Add', ['enc', 'x'], { name: '/Add' }), g.initializer('W', 'float32', [WIDTH, WIDTH], values(16, 5))], { name: '/MatMul', output: 'y' });
    g.output(mixed, 'float32', ['batch', TOKENS, WIDTH]);
    assert.equal(hoistEncoderProjections(g.toModel() as onnxProto.onnx.ModelProto, 'enc'), undefined);
    assert.throws(() => hoistEncoderProjections(g.toModel() as onnxProto.onnx.ModelProto, 'nope'), /no input 'nope'/);
  });

  it('loads the decoder whole, and says so, when onnxruntime refuses the split graph', async () => {
    // CastLike's output takes its second input's type; the split guesses the first's, so the
    // decoder's new input is declared float32 where an int64 is added to it.
    const g = new OnnxGraphBuilder({ graphName: 'mistyped' });
    g.input('step', 'int64', ['batch', TOKENS, WIDTH]);
    g.input('enc', 'float32', ['batch', TOKENS, WIDTH]);
    const projected = g.op('MatMul', ['enc', g.initializer('W', 'float32', [WIDTH, WIDTH], values(16, 7))], { name: '/MatMul' });
    const asInt = g.op('CastLike', [projected, g.initializer('like', 'int64', [], [0])], { name: '/CastLike' });
    g.op('Add', [asInt, 'step'], { name: '/Add', output: 'y' });
    g.output('y', 'int64', ['batch', TOKENS, WIDTH]);
    const dir = await mkdtemp(path.join(os.tmpdir(), 'mms-mistyped-'));
    const file = path.join(dir, 'model.onnx');
    await writeFile(file, g.toBytes());
    const notes: string[] = [];
    const pool = await WorkerPool.create({
      sessions: { model: file },
      hoistEncoderProjections: { model: 'enc' },
      instances: 1,
      intraOpThreads: 1,
      providers: ['cpu'],
      requireProvider: false,
      allowSpinning: false,
      logger: { info: (message: string) => notes.push(message) } as never,
    });
    try {
      assert.deepEqual(Object.keys(pool.sessions), ['model'], 'no projections session');
      assert.ok(notes.some((note) => /the split decoder did not load .*; loaded whole/.test(note)), notes.join('\n'));
      const enc = { type: 'float32' as const, dims: [1, TOKENS, WIDTH], data: values(TOKENS * WIDTH, 8) };
      const step = { type: 'int64' as const, dims: [1, TOKENS, WIDTH], data: new BigInt64Array(TOKENS * WIDTH).fill(5n) };
      assert.equal((await pool.run('model', { enc, step }, ['y'])).y!.data.length, TOKENS * WIDTH, 'and it runs');
    } finally {
      await pool.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  for (const file of ['decoder_model_merged.onnx', 'decoder_model_merged_quantized.onnx']) {
    it(`computes the generated ViT-GPT2 ${file}'s logits and presents exactly`, async () => {
      const bytes = await readFile(path.join(await tinyVitGpt2Dir(), 'onnx', file));
      const batch = 2;
      const pasts = Object.fromEntries([0, 1].flatMap((layer) => ['key', 'value'].map((kv) => [`past_key_values.${layer}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [batch, 2, 0, 16])])));
      const feed = {
        input_ids: new ort.Tensor('int64', BigInt64Array.of(50256n, 50256n), [batch, 1]),
        encoder_hidden_states: new ort.Tensor('float32', values(batch * 197 * 32, 6), [batch, 197, 32]),
        use_cache_branch: new ort.Tensor('bool', Uint8Array.of(0), [1]),
        ...pasts,
      };
      const { original, split } = await bothWays(bytes, 'encoder_hidden_states', [feed], ['logits', 'present.1.value']);
      assert.deepEqual(split, original);
    });
  }
});
