/**
 * The generated ViT-GPT2 captioner against the contract of Xenova/vit-gpt2-image-captioning's
 * files, with the real onnxruntime and a real photo: names, dtypes and shapes; decoding with the
 * cache gives the tokens (and logits) of decoding without it; rows batched in lockstep decode as
 * they do alone; the tokenizer loads in transformers.js.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { AutoTokenizer, env as transformersEnv } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { loadImageProcessorConfig, preprocessImage } from '../../src/models/image/index.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitGpt2Dir } from '../helpers/test-models.js';

const EOS = 50256;
const LAYERS = 2;
const STEPS = 8;

type Feeds = Record<string, ort.Tensor>;

describe('generated ViT-GPT2 captioner', () => {
  let dir: string;
  let encoder: ort.InferenceSession;
  let decoder: ort.InferenceSession;
  let imageTokens: ort.Tensor;

  before(async () => {
    dir = await tinyVitGpt2Dir();
    encoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'encoder_model.onnx'));
    decoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
    const settings = await loadImageProcessorConfig(path.join(dir, 'preprocessor_config.json'), { defaultToSquare: true });
    const photos = await Promise.all((['chelsea.png', 'rocket.jpg'] as const).map(async (name) => (await preprocessImage(await readFile(sharedImage(name)), settings, { maxPixels: 5e7 })).pixelValues));
    const pixels = new Float32Array(photos[0]!.length * 2);
    photos.forEach((p, i) => pixels.set(p, i * p.length));
    imageTokens = (await encoder.run({ pixel_values: new ort.Tensor('float32', pixels, [2, 3, 224, 224]) })).last_hidden_state!;
  });

  const pastShape = () => (decoder.inputMetadata.find((m) => m.name === 'past_key_values.0.key') as { shape: readonly (number | string)[] }).shape;
  const emptyPasts = (batch: number): Feeds => {
    const [, heads, , headDim] = pastShape() as [unknown, number, unknown, number];
    return Object.fromEntries(
      Array.from({ length: LAYERS }, (_, i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [batch, heads, 0, headDim])])).flat(),
    );
  };
  const rowsOf = (tensor: ort.Tensor, row: number): ort.Tensor => {
    const [, ...rest] = tensor.dims;
    const size = rest.reduce((a, b) => a * b, 1);
    return new ort.Tensor('float32', (tensor.data as Float32Array).slice(row * size, (row + 1) * size), [1, ...rest]);
  };
  const argmaxRows = (logits: ort.Tensor): number[] => {
    const [batch, length, vocab] = logits.dims as [number, number, number];
    const data = logits.data as Float32Array;
    return Array.from({ length: batch }, (_, b) => {
      const row = data.subarray((b * length + length - 1) * vocab, (b * length + length) * vocab);
      return row.indexOf(Math.max(...row));
    });
  };

  /** Greedy decoding with the cache: one token per row per step, the pasts fed back. */
  async function decodeCached(states: ort.Tensor, batch: number): Promise<{ tokens: number[][]; logits: Float32Array[] }> {
    let pasts = emptyPasts(batch);
    let next = Array<number>(batch).fill(EOS);
    const tokens: number[][] = Array.from({ length: batch }, () => []);
    const logits: Float32Array[] = [];
    for (let step = 0; step < STEPS; step++) {
      const out = await decoder.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(next.map(BigInt)), [batch, 1]),
        encoder_hidden_states: states,
        use_cache_branch: new ort.Tensor('bool', [step > 0], [1]),
        ...pasts,
      });
      logits.push((out.logits!.data as Float32Array).slice());
      next = argmaxRows(out.logits!);
      next.forEach((token, b) => tokens[b]!.push(token));
      pasts = Object.fromEntries(Object.keys(pasts).map((name) => [name, out[name.replace('past_key_values', 'present')]!]));
    }
    return { tokens, logits };
  }

  it('has the files and the input/output contract of the real export', async () => {
    assert.deepEqual(encoder.inputNames, ['pixel_values']);
    assert.deepEqual(encoder.outputNames, ['last_hidden_state']);
    assert.deepEqual(imageTokens.dims, [2, 197, 32]);
    const pasts = Array.from({ length: LAYERS }, (_, i) => [`past_key_values.${i}.key`, `past_key_values.${i}.value`]).flat();
    assert.deepEqual(decoder.inputNames, ['input_ids', 'encoder_hidden_states', 'use_cache_branch', ...pasts]);
    assert.deepEqual(decoder.outputNames, ['logits', ...pasts.map((p) => p.replace('past_key_values', 'present'))]);
    const types = Object.fromEntries(decoder.inputMetadata.map((m) => [m.name, (m as { type?: string }).type]));
    assert.deepEqual([types.input_ids, types.encoder_hidden_states, types.use_cache_branch, types['past_key_values.0.key']], ['int64', 'float32', 'bool', 'float32']);
    assert.deepEqual(pastShape().slice(1), [2, 'past_decoder_sequence_length', 16]);
    const config = JSON.parse(await readFile(path.join(dir, 'config.json'), 'utf8'));
    assert.deepEqual([config.model_type, config.decoder.model_type, config.encoder.model_type, config.decoder_start_token_id, config.eos_token_id], ['vision-encoder-decoder', 'gpt2', 'vit', EOS, EOS]);
    for (const file of ['generation_config.json', 'preprocessor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/decoder_model_merged_quantized.onnx', 'onnx/encoder_model_quantized.onnx', 'onnx/encoder_model_fp16.onnx']) {
      await readFile(path.join(dir, file));
    }
  });

  it('decodes the same tokens with the cache as without it', async (t) => {
    const photo = rowsOf(imageTokens, 0);
    const cached = await decodeCached(photo, 1);
    // Without the cache: the whole sequence so far, every step, from empty pasts.
    const sequence = [EOS];
    let largest = 0;
    for (let step = 0; step < STEPS; step++) {
      const out = await decoder.run({
        input_ids: new ort.Tensor('int64', BigInt64Array.from(sequence.map(BigInt)), [1, sequence.length]),
        encoder_hidden_states: photo,
        use_cache_branch: new ort.Tensor('bool', [false], [1]),
        ...emptyPasts(1),
      });
      const vocab = out.logits!.dims[2]!;
      const last = (out.logits!.data as Float32Array).subarray((sequence.length - 1) * vocab);
      cached.logits[step]!.forEach((v, i) => (largest = Math.max(largest, Math.abs(v - last[i]!))));
      sequence.push(argmaxRows(out.logits!)[0]!);
    }
    t.diagnostic(`tokens ${cached.tokens[0]!.join(' ')}; largest logit difference ${largest.toExponential(2)}`);
    assert.deepEqual(cached.tokens[0], sequence.slice(1));
    assert.ok(largest < 1e-3, `logits agree (largest difference ${largest})`);
    assert.ok(new Set(cached.tokens[0]).size > 1, 'random weights still vary the tokens');
  });

  it('decodes rows batched in lockstep as it decodes them alone', async () => {
    const together = await decodeCached(imageTokens, 2);
    const alone = await Promise.all([0, 1].map(async (row) => (await decodeCached(rowsOf(imageTokens, row), 1)).tokens[0]));
    assert.deepEqual(together.tokens, alone);
    assert.notDeepEqual(alone[0], alone[1], 'two photos, two captions');
  });

  it('ships a tokenizer transformers.js loads, with <|endoftext|> as the last id', async () => {
    transformersEnv.allowRemoteModels = false;
    transformersEnv.localModelPath = path.dirname(dir);
    const tokenizer = await AutoTokenizer.from_pretrained(path.basename(dir));
    assert.equal(tokenizer.eos_token_id, EOS);
    const ids = tokenizer.encode('a cat sitting on a couch', { add_special_tokens: false });
    assert.equal(tokenizer.decode(ids), 'a cat sitting on a couch');
    const caption = (await decodeCached(rowsOf(imageTokens, 0), 1)).tokens[0]!;
    assert.equal(typeof tokenizer.decode(caption, { skip_special_tokens: true }), 'string');
  });
});
