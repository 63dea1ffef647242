import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import {
  buildClipCombinedGraph,
  buildClipTextGraph,
  buildClipVisionGraph,
  CLIP_TINY,
  clipTokenizerFiles,
  ensureClipModel,
  SeededRandom,
  type ClipSpec,
} from '../../src/models/generator/index.js';
import { sharedDir } from '../helpers/shared-dir.js';

const { onnx } = onnxProto;
const spec = CLIP_TINY;
const S = spec.imageSize;
const IMAGE = 3 * S * S;
const TOKENS = (S / spec.patchSize) ** 2 + 1;

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

/** Uniform noise pixels, normalised roughly as CLIP's processor would. */
function noise(seed: number): Float32Array {
  const rng = new SeededRandom(seed);
  return Float32Array.from({ length: IMAGE }, () => (rng.next() - 0.45) / 0.27);
}

function rows(data: Float32Array, n: number): Float32Array[] {
  const width = data.length / n;
  return Array.from({ length: n }, (_, i) => data.slice(i * width, (i + 1) * width));
}
const dot = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + v * b[i]!, 0);
const norm = (a: Float32Array): number => Math.sqrt(dot(a, a));
const cosine = (a: Float32Array, b: Float32Array): number => dot(a, b) / (norm(a) * norm(b));
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Token ids padded with `pad` to the longest row, plus the matching attention mask. */
function padBatch(batch: number[][], pad: number): { ids: ort.Tensor; mask: ort.Tensor; length: number } {
  const length = Math.max(...batch.map((r) => r.length));
  const ids = new BigInt64Array(batch.length * length).fill(BigInt(pad));
  const mask = new BigInt64Array(batch.length * length);
  batch.forEach((row, i) => row.forEach((id, j) => {
    ids[i * length + j] = BigInt(id);
    mask[i * length + j] = 1n;
  }));
  return { ids: new ort.Tensor('int64', ids, [batch.length, length]), mask: new ort.Tensor('int64', mask, [batch.length, length]), length };
}

describe('generated CLIP (tiny)', () => {
  let cacheDir: string;
  let modelDir: string;
  let text: ort.InferenceSession;
  let vision: ort.InferenceSession;
  let combined: ort.InferenceSession;
  const files = clipTokenizerFiles();
  const tokenizer = new Tokenizer(files.tokenizer, files.tokenizerConfig);
  const bos = files.vocabSize - 2;
  const eos = files.vocabSize - 1;
  // The package's .d.ts files do not resolve under NodeNext (extensionless imports), so type the results here.
  const encodeFull = (s: string): { ids: number[]; tokens: string[] } => tokenizer.encode(s);
  const encode = (s: string): number[] => encodeFull(s).ids;

  const textEmbeds = async (ids: ort.Tensor): Promise<Float32Array> => (await text.run({ input_ids: ids })).text_embeds!.data as Float32Array;
  const imageEmbeds = async (pixels: Float32Array[]): Promise<Float32Array> => {
    const batch = new Float32Array(pixels.length * IMAGE);
    pixels.forEach((p, i) => batch.set(p, i * IMAGE));
    const out = await vision.run({ pixel_values: new ort.Tensor('float32', batch, [pixels.length, 3, S, S]) });
    assert.deepEqual(out.image_embeds?.dims, [pixels.length, spec.projectionDim]);
    assert.deepEqual(out.last_hidden_state?.dims, [pixels.length, TOKENS, spec.visionHidden]);
    return out.image_embeds!.data as Float32Array;
  };

  before(async () => {
    cacheDir = await mkdtemp(path.join(os.tmpdir(), 'clip-generator-test-'));
    modelDir = await ensureClipModel(spec, { cacheDir });
    const onnxDir = path.join(modelDir, 'onnx');
    text = await ort.InferenceSession.create(path.join(onnxDir, 'text_model.onnx'));
    vision = await ort.InferenceSession.create(path.join(onnxDir, 'vision_model.onnx'));
    combined = await ort.InferenceSession.create(path.join(onnxDir, 'model.onnx'));
  });

  after(async () => {
    await text?.release();
    await vision?.release();
    await combined?.release();
    if (cacheDir) await rm(cacheDir, { recursive: true, force: true });
  });

  test('the Hugging Face file layout', () => {
    for (const name of ['config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'onnx/text_model.onnx', 'onnx/vision_model.onnx', 'onnx/model.onnx']) {
      assert.ok(existsSync(path.join(modelDir, name)), name);
    }
  });

  test('session inputs and outputs match the Xenova export contract', () => {
    const io = (session: ort.InferenceSession): Record<string, [string, readonly (number | string)[]]> => {
      const out: Record<string, [string, readonly (number | string)[]]> = {};
      for (const m of [...session.inputMetadata, ...session.outputMetadata]) {
        assert.ok(m.isTensor, m.name);
        out[m.name] = [m.type, m.shape];
      }
      return out;
    };
    assert.deepEqual(text.inputNames, ['input_ids']);
    assert.deepEqual(text.outputNames, ['text_embeds', 'last_hidden_state']);
    assert.deepEqual(io(text), {
      input_ids: ['int64', ['batch_size', 'sequence_length']],
      text_embeds: ['float32', ['batch_size', spec.projectionDim]],
      last_hidden_state: ['float32', ['batch_size', 'sequence_length', spec.textHidden]],
    });
    assert.deepEqual(vision.inputNames, ['pixel_values']);
    assert.deepEqual(vision.outputNames, ['image_embeds', 'last_hidden_state']);
    assert.deepEqual(io(vision), {
      pixel_values: ['float32', ['batch_size', 3, S, S]],
      image_embeds: ['float32', ['batch_size', spec.projectionDim]],
      last_hidden_state: ['float32', ['batch_size', TOKENS, spec.visionHidden]],
    });
    assert.deepEqual([...combined.inputNames].sort(), ['attention_mask', 'input_ids', 'pixel_values']);
    assert.deepEqual(combined.outputNames, ['logits_per_image', 'logits_per_text', 'text_embeds', 'image_embeds']);
    assert.deepEqual(io(combined), {
      input_ids: ['int64', ['text_batch_size', 'sequence_length']],
      attention_mask: ['int64', ['text_batch_size', 'sequence_length']],
      pixel_values: ['float32', ['image_batch_size', 3, S, S]],
      logits_per_image: ['float32', ['image_batch_size', 'text_batch_size']],
      logits_per_text: ['float32', ['text_batch_size', 'image_batch_size']],
      text_embeds: ['float32', ['text_batch_size', spec.projectionDim]],
      image_embeds: ['float32', ['image_batch_size', spec.projectionDim]],
    });
  });

  test('named Softmax per layer; model.onnx holds exactly the towers\' weights plus logit_scale', async () => {
    const load = async (name: string): Promise<onnxProto.onnx.ModelProto> => onnx.ModelProto.decode(await readFile(path.join(modelDir, 'onnx', name)));
    const [t, v, m] = await Promise.all([load('text_model.onnx'), load('vision_model.onnx'), load('model.onnx')]);
    const softmaxes = (model: onnxProto.onnx.ModelProto): string[] => (model.graph?.node ?? []).filter((n) => n.opType === 'Softmax').map((n) => n.name ?? '');
    const textNames = Array.from({ length: spec.textLayers }, (_, i) => `/text_model/encoder/layers.${i}/self_attn/Softmax`);
    const visionNames = Array.from({ length: spec.visionLayers }, (_, i) => `/vision_model/encoder/layers.${i}/self_attn/Softmax`);
    assert.deepEqual(softmaxes(t), textNames);
    assert.deepEqual(softmaxes(v), visionNames);
    assert.deepEqual(softmaxes(m), [...textNames, ...visionNames]);
    const weights = (model: onnxProto.onnx.ModelProto): Map<string, Buffer> =>
      new Map((model.graph?.initializer ?? []).filter((i) => !i.name?.includes('.const.')).map((i) => [i.name ?? '', Buffer.from(i.rawData ?? [])]));
    const [tw, vw, mw] = [weights(t), weights(v), weights(m)];
    assert.ok(tw.has('text_model.embeddings.token_embedding.weight') && tw.has('text_projection.weight'));
    assert.ok(vw.has('vision_model.embeddings.class_embedding') && vw.has('visual_projection.weight'));
    assert.ok(!vw.has('vision_model.embeddings.patch_embedding.bias'), 'patch embedding has no bias');
    assert.ok(!tw.has('text_projection.bias') && !vw.has('visual_projection.bias'), 'projections have no bias');
    assert.deepEqual([...mw.keys()].sort(), [...tw.keys(), ...vw.keys(), 'logit_scale'].sort());
    for (const [name, bytes] of [...tw, ...vw]) assert.ok(mw.get(name)!.equals(bytes), `model.onnx ${name} equals the tower's`);
    assert.ok(Math.abs(Buffer.from(mw.get('logit_scale')!).readFloatLE(0) - Math.log(100)) < 1e-6);
  });

  test('text tower: padding after the end token changes nothing; different texts differ', async () => {
    const texts = ['a photo of a cat', 'a photo of a dog', 'a blurry photo of an astronaut riding a horse'];
    const ids = texts.map(encode);
    const singles: Float32Array[] = [];
    for (const row of ids) singles.push(await textEmbeds(padBatch([row], eos).ids));
    const { ids: padded, length } = padBatch(ids, eos);
    const out = await text.run({ input_ids: padded });
    assert.deepEqual(out.last_hidden_state?.dims, [texts.length, length, spec.textHidden]);
    const batch = rows(out.text_embeds!.data as Float32Array, texts.length);
    batch.forEach((row, i) => {
      assert.ok(row.every(Number.isFinite), `text ${i} finite`);
      assert.ok(maxAbsDiff(row, singles[i]!) < 1e-5, `text ${i}: padded ${maxAbsDiff(row, singles[i]!)}`);
    });
    const catDog = cosine(singles[0]!, singles[1]!);
    assert.ok(catDog < 0.99, `cat vs dog cosine ${catDog}`);
    assert.ok(cosine(singles[0]!, singles[2]!) < 0.99);
  });

  test('vision tower: batch equals singles; different images differ', async () => {
    const images = [image(1), image(2), noise(3), noise(4)];
    const batch = rows(await imageEmbeds(images), images.length);
    for (const [i, img] of images.entries()) {
      const single = await imageEmbeds([img]);
      assert.ok(single.every(Number.isFinite), `image ${i} finite`);
      assert.ok(maxAbsDiff(single, batch[i]!) < 1e-4, `image ${i} batched`);
    }
    for (const [i, j] of [[0, 1], [2, 3], [0, 2]] as const) {
      const c = cosine(batch[i]!, batch[j]!);
      assert.ok(c < 0.99, `images ${i} and ${j}: cosine ${c}`);
    }
  });

  test('model.onnx: logits = 100 · cosine of the towers\' embeddings; embeddings unit-norm', async () => {
    const texts = ['a photo of a cat', 'a photo of a dog', 'this is a photo of a rocket', 'a cup of coffee'];
    const images = [image(5), image(6), noise(7)];
    const { ids, mask } = padBatch(texts.map(encode), eos);
    const pixels = new Float32Array(images.length * IMAGE);
    images.forEach((p, i) => pixels.set(p, i * IMAGE));
    const out = await combined.run({ input_ids: ids, attention_mask: mask, pixel_values: new ort.Tensor('float32', pixels, [images.length, 3, S, S]) });
    assert.deepEqual(out.logits_per_image?.dims, [images.length, texts.length]);
    assert.deepEqual(out.logits_per_text?.dims, [texts.length, images.length]);

    const towerText = rows(await textEmbeds(ids), texts.length);
    const towerImage = rows(await imageEmbeds(images), images.length);
    const combinedText = rows(out.text_embeds!.data as Float32Array, texts.length);
    const combinedImage = rows(out.image_embeds!.data as Float32Array, images.length);
    for (const [i, e] of combinedText.entries()) {
      assert.ok(Math.abs(norm(e) - 1) < 1e-5, `text_embeds ${i} norm ${norm(e)}`);
      assert.ok(maxAbsDiff(e, towerText[i]!.map((v) => v / norm(towerText[i]!))) < 1e-5);
    }
    for (const [i, e] of combinedImage.entries()) {
      assert.ok(Math.abs(norm(e) - 1) < 1e-5, `image_embeds ${i} norm ${norm(e)}`);
      assert.ok(maxAbsDiff(e, towerImage[i]!.map((v) => v / norm(towerImage[i]!))) < 1e-5);
    }
    const perImage = out.logits_per_image!.data as Float32Array;
    const perText = out.logits_per_text!.data as Float32Array;
    for (let i = 0; i < images.length; i++) {
      for (let j = 0; j < texts.length; j++) {
        const expected = 100 * cosine(towerImage[i]!, towerText[j]!);
        assert.ok(Math.abs(perImage[i * texts.length + j]! - expected) < 1e-3, `logits_per_image[${i}][${j}] ${perImage[i * texts.length + j]} vs ${expected}`);
        assert.equal(perText[j * images.length + i], perImage[i * texts.length + j]);
      }
    }
    // attention_mask is applied: masking the padding (right padding) gives the unpadded logits.
    const short = padBatch([encode(texts[0]!)], eos);
    const single = await combined.run({ input_ids: short.ids, attention_mask: short.mask, pixel_values: new ort.Tensor('float32', pixels, [images.length, 3, S, S]) });
    const singleLogits = single.logits_per_image!.data as Float32Array;
    for (let i = 0; i < images.length; i++) assert.ok(Math.abs(singleLogits[i]! - perImage[i * texts.length]!) < 1e-3);
  });

  test('config.json, preprocessor_config.json and the tokenizer files', async () => {
    const json = async (name: string): Promise<Record<string, any>> => JSON.parse(await readFile(path.join(modelDir, name), 'utf8'));
    const config = await json('config.json');
    assert.equal(config.model_type, 'clip');
    assert.deepEqual(config.architectures, ['CLIPModel']);
    assert.equal(config.projection_dim, spec.projectionDim);
    assert.equal(config.logit_scale_init_value, 2.6592);
    assert.deepEqual(config._generated, { random_weights: true, seed: spec.seed, generator: 'multimodal-inference-server' });
    assert.equal(config.text_config.vocab_size, files.vocabSize);
    assert.equal(config.text_config.hidden_act, 'quick_gelu');
    assert.equal(config.text_config.max_position_embeddings, 77);
    assert.equal(config.vision_config.patch_size, spec.patchSize);
    assert.equal(config.vision_config.image_size, S);
    const pre = await json('preprocessor_config.json');
    assert.equal(pre.image_processor_type, 'CLIPImageProcessor');
    assert.deepEqual(pre.size, { shortest_edge: S });
    assert.deepEqual(pre.crop_size, { height: S, width: S });
    assert.equal(pre.resample, 3);
    assert.deepEqual(pre.image_mean, [0.48145466, 0.4578275, 0.40821073]);
    assert.equal(pre.do_convert_rgb, true);
    const tokConfig = await json('tokenizer_config.json');
    assert.equal(tokConfig.tokenizer_class, 'CLIPTokenizer');
    assert.equal(tokConfig.model_max_length, 77);
    assert.equal(tokConfig.pad_token, '<|endoftext|>');
    assert.equal(tokConfig.added_tokens_decoder[String(eos)].content, '<|endoftext|>');
    const special = await json('special_tokens_map.json');
    assert.equal(special.bos_token.content, '<|startoftext|>');
    assert.equal(special.unk_token.content, '<|endoftext|>');
    assert.deepEqual(await json('tokenizer.json'), files.tokenizer);
  });

  test('the generated tokenizer: bos/eos are the last ids, words and byte fallback', () => {
    const model = files.tokenizer.model as { vocab: Record<string, number>; merges: unknown[] };
    assert.equal(Object.keys(model.vocab).length, files.vocabSize);
    assert.equal(model.vocab['!'], 0);
    assert.equal(model.vocab['"'], 1);
    assert.equal(model.vocab['!</w>'], 256);
    assert.equal(model.vocab['<|startoftext|>'], bos);
    assert.equal(model.vocab['<|endoftext|>'], eos);
    assert.ok(model.merges.length >= 200, `${model.merges.length} merges`);
    const cat = encodeFull('a photo of a cat.');
    assert.deepEqual(cat.tokens, ['<|startoftext|>', 'a</w>', 'photo</w>', 'of</w>', 'a</w>', 'cat</w>', '.</w>', '<|endoftext|>']);
    assert.equal(cat.ids[0], bos);
    assert.equal(cat.ids.at(-1), eos);
    assert.ok(cat.ids.slice(1, -1).every((id) => id < bos));
    for (const t of ['Xylophone 42!', 'Zebra 42!', 'héllo wörld ☃']) {
      const ids = encode(t);
      assert.equal(ids[0], bos);
      assert.equal(ids.at(-1), eos);
      assert.ok(ids.length > 2 && ids.slice(1, -1).every((id) => id >= 0 && id < bos), t);
      assert.equal(tokenizer.decode(ids, { skip_special_tokens: true }).replace(/\s+/g, ''), t.toLowerCase().replace(/\s+/g, ''));
    }
    assert.deepEqual(clipTokenizerFiles(), files, 'deterministic');
  });

  test('the real CLIP tokenizer in ../shared reads in the same format', async () => {
    const dir = path.join(sharedDir(), 'hf', 'clip-vit-base-patch32');
    const real = new Tokenizer(JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8')), JSON.parse(await readFile(path.join(dir, 'tokenizer_config.json'), 'utf8')));
    assert.deepEqual(real.encode('a photo of a cat.').ids, [49406, 320, 1125, 539, 320, 2368, 269, 49407]);
    const ours = files.tokenizer as Record<string, any>;
    const theirs = JSON.parse(await readFile(path.join(dir, 'tokenizer.json'), 'utf8'));
    for (const key of ['normalizer', 'pre_tokenizer', 'decoder']) assert.deepEqual(ours[key], theirs[key], key);
    const { vocab: _v, merges: _m, ...ourModel } = ours.model;
    const { vocab: realVocab, merges: _rm, ...theirModel } = theirs.model;
    assert.deepEqual(ourModel, theirModel);
    assert.deepEqual(Object.keys(ours.model.vocab).slice(0, 512), Object.keys(realVocab).slice(0, 512), 'byte-level alphabet in the real order');
  });

  test('vocabSize: a bigger embedding table works with the same tokenizer; a smaller one is refused', async () => {
    const big: ClipSpec = { ...spec, vocabSize: files.vocabSize + 500 };
    const session = await ort.InferenceSession.create(buildClipTextGraph(big).toBytes());
    try {
      const out = await session.run({ input_ids: padBatch([encode('a photo of a cat')], eos).ids });
      assert.ok((out.text_embeds!.data as Float32Array).every(Number.isFinite));
    } finally {
      await session.release();
    }
    const small: ClipSpec = { ...spec, vocabSize: files.vocabSize - 1 };
    assert.throws(() => buildClipTextGraph(small), /smaller than the tokenizer/);
    assert.throws(() => buildClipCombinedGraph(small), /smaller than the tokenizer/);
    assert.ok(Buffer.from(buildClipVisionGraph(spec).toBytes()).equals(await readFile(path.join(modelDir, 'onnx', 'vision_model.onnx'))), 'same seed, same bytes');
  });
});
