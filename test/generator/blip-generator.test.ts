/**
 * The generated BLIP captioner against this server's BLIP contract, with the real onnxruntime
 * and a real photo: names and shapes; the with-past decoder continues the first step exactly
 * (cached = uncached); a left-padded row with its own position ids gives the logits it gives
 * unpadded (what batching rows of different lengths relies on); the tokenizer loads in
 * transformers.js and decodes a greedy caption.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { AutoTokenizer, env as transformersEnv } from '@huggingface/transformers';
import ort from 'onnxruntime-node';
import { BLIP_TINY, BLIP_TOKENS } from '../../src/models/generator/blip-model.js';
import { loadImageProcessorConfig, preprocessImage } from '../../src/models/image/index.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyBlipDir } from '../helpers/test-models.js';

const LAYERS = BLIP_TINY.text.numLayers;
const VOCAB = BLIP_TINY.text.vocabSize;
const IMAGE_TOKENS = (384 / 16) ** 2 + 1;

type Feeds = Record<string, ort.Tensor>;
const ids = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
const lastLogits = (logits: ort.Tensor, row = 0): Float32Array => {
  const [, length] = logits.dims as number[];
  return (logits.data as Float32Array).slice((row * length! + length! - 1) * VOCAB, (row * length! + length!) * VOCAB);
};
const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);

describe('generated BLIP captioner', () => {
  let dir: string;
  let first: ort.InferenceSession;
  let withPast: ort.InferenceSession;
  let imageTokens: ort.Tensor;
  let encoderMask: ort.Tensor;

  before(async () => {
    dir = await tinyBlipDir();
    const vision = await ort.InferenceSession.create(path.join(dir, 'onnx', 'vision_model.onnx'));
    first = await ort.InferenceSession.create(path.join(dir, 'onnx', 'decoder_model.onnx'));
    withPast = await ort.InferenceSession.create(path.join(dir, 'onnx', 'decoder_with_past_model.onnx'));
    const settings = await loadImageProcessorConfig(path.join(dir, 'preprocessor_config.json'), { defaultToSquare: true });
    const { pixelValues } = await preprocessImage(await readFile(sharedImage('chelsea.png')), settings, { maxPixels: 5e7 });
    imageTokens = (await vision.run({ pixel_values: new ort.Tensor('float32', pixelValues, [1, 3, 384, 384]) })).last_hidden_state!;
    encoderMask = ids([Array(IMAGE_TOKENS).fill(1)]);
  });

  /** The first step over `tokens` (left-padded by `pad`), positions counted from the first real token. */
  const firstStep = (tokens: number[], pad = 0): Promise<Feeds> =>
    first.run({
      input_ids: ids([[...Array(pad).fill(BLIP_TOKENS.pad), ...tokens]]),
      attention_mask: ids([[...Array(pad).fill(0), ...tokens.map(() => 1)]]),
      position_ids: ids([[...Array(pad).fill(0), ...tokens.map((_, i) => i)]]),
      encoder_hidden_states: imageTokens,
      encoder_attention_mask: encoderMask,
    }) as Promise<Feeds>;

  it('has the contract: 577 image tokens, the first step\'s and the later steps\' inputs and outputs', () => {
    assert.deepEqual(imageTokens.dims, [1, IMAGE_TOKENS, BLIP_TINY.vision.hiddenSize]);
    const pasts = (side: string, prefix: string) => Array.from({ length: LAYERS }, (_, i) => ['key', 'value'].map((kv) => `${prefix}.${i}.${side}.${kv}`)).flat();
    assert.deepEqual(first.inputNames, ['input_ids', 'attention_mask', 'position_ids', 'encoder_hidden_states', 'encoder_attention_mask']);
    assert.deepEqual(new Set(first.outputNames), new Set(['logits', ...pasts('decoder', 'present'), ...pasts('encoder', 'present')]));
    assert.deepEqual(new Set(withPast.inputNames), new Set(['input_ids', 'attention_mask', 'position_ids', 'encoder_attention_mask', ...pasts('decoder', 'past_key_values'), ...pasts('encoder', 'past_key_values')]));
    assert.deepEqual(new Set(withPast.outputNames), new Set(['logits', ...pasts('decoder', 'present')]));
  });

  it('continues the first step with the cache exactly as running the whole sequence again', async () => {
    const prompt = [BLIP_TOKENS.bos, 1100, 1200];
    const sequence = [...prompt];
    let out = await firstStep(prompt);
    const cache: Feeds = {};
    const keep = (presents: Feeds, withEncoder: boolean) => {
      for (let i = 0; i < LAYERS; i++) {
        for (const kv of ['key', 'value']) {
          cache[`past_key_values.${i}.decoder.${kv}`] = presents[`present.${i}.decoder.${kv}`]!;
          if (withEncoder) cache[`past_key_values.${i}.encoder.${kv}`] = presents[`present.${i}.encoder.${kv}`]!;
        }
      }
    };
    keep(out, true);
    for (let step = 0; step < 4; step++) {
      sequence.push(argmax(lastLogits(out.logits!)));
      out = (await withPast.run({ input_ids: ids([[sequence.at(-1)!]]), attention_mask: ids([sequence.map(() => 1)]), position_ids: ids([[sequence.length - 1]]), encoder_attention_mask: encoderMask, ...cache })) as Feeds;
      keep(out, false);
      assert.deepEqual(out['present.0.decoder.key']!.dims, [1, BLIP_TINY.text.numHeads, sequence.length, BLIP_TINY.text.hiddenSize / BLIP_TINY.text.numHeads]);
      const uncached = await firstStep(sequence);
      assert.ok(maxDiff(lastLogits(out.logits!), lastLogits(uncached.logits!)) < 1e-4, `step ${step}: cached and uncached logits agree`);
    }
  });

  it('gives a left-padded row, with its own positions, the logits it gets unpadded', async () => {
    const prompt = [BLIP_TOKENS.bos, 1100, 1200, 1300];
    const plain = lastLogits((await firstStep(prompt)).logits!);
    const padded = lastLogits((await firstStep(prompt, 3)).logits!);
    assert.ok(maxDiff(plain, padded) < 1e-4);
    const logitsStd = Math.sqrt(plain.reduce((s, v) => s + v * v, 0) / VOCAB);
    assert.ok(logitsStd > 1 && logitsStd < 5, `logits neither flat nor one-hot (std ${logitsStd})`);
  });

  it('ships a WordPiece tokenizer that transformers.js loads and that decodes a greedy caption', async () => {
    transformersEnv.allowRemoteModels = false;
    transformersEnv.localModelPath = path.dirname(dir);
    const tokenizer = await AutoTokenizer.from_pretrained(path.basename(dir));
    const prompt = tokenizer.encode('a photography of', { add_special_tokens: false });
    const tokens = [BLIP_TOKENS.bos, ...prompt];
    let out = await firstStep(tokens);
    for (let i = 0; i < 5; i++) {
      tokens.push(argmax(lastLogits(out.logits!)));
      out = await firstStep(tokens);
    }
    const caption = tokenizer.decode(tokens, { skip_special_tokens: true });
    assert.match(caption, /^a photography of \S/);
  });
});
