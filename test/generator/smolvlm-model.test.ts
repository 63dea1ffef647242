/**
 * The generated SmolVLM against the contract of HuggingFaceTB/SmolVLM-256M-Instruct's ONNX files,
 * with the real onnxruntime: names, dtypes and shapes; padding views dropped by the vision
 * encoder; prefill in chunks with the cache fed back = prefill in one call; a left-padded row
 * gives the logits it gives alone (prefill and the next step); embed_tokens and the tied head hold
 * the same matrix; random weights that still answer like a model (logits spread, greedy decoding
 * moves, the picture matters); the tokenizer and chat template in transformers.js.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { PreTrainedTokenizer } from '@huggingface/transformers';
import onnxProto from 'onnx-proto';
import ort from 'onnxruntime-node';
import { SeededRandom } from '../../src/models/generator/seeded-random.js';
import { buildSmolVlmDecoderGraph, smolVlmEmbedTokens, smolVlmImageSeqLen, SMOLVLM_TINY } from '../../src/models/generator/smolvlm-model.js';
import { SMOLVLM_TOKENS } from '../../src/models/generator/smolvlm-tokenizer.js';
import { tinySmolVlmDir } from '../helpers/test-models.js';

const { text: TEXT, vision: VISION } = SMOLVLM_TINY;
const HIDDEN = TEXT.hiddenSize;
const VOCAB = TEXT.vocabSize;
const LAYERS = TEXT.numLayers;
const SIZE = VISION.imageSize;
const IMAGE_TOKENS = smolVlmImageSeqLen(SMOLVLM_TINY);

type Feeds = Record<string, ort.Tensor>;
const int64 = (rows: number[][]) => new ort.Tensor('int64', BigInt64Array.from(rows.flat().map(BigInt)), [rows.length, rows[0]!.length]);
const range = (n: number, start = 0) => Array.from({ length: n }, (_, i) => start + i);
const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
const argmax = (row: Float32Array) => row.indexOf(Math.max(...row));
const lastLogits = (logits: ort.Tensor, row = 0): Float32Array => {
  const [, length] = logits.dims as [number, number];
  return (logits.data as Float32Array).slice((row * length + length - 1) * VOCAB, (row * length + length) * VOCAB);
};
const contract = (metadata: readonly ort.InferenceSession.ValueMetadata[]) =>
  Object.fromEntries(metadata.map((m) => [m.name, m.isTensor ? { type: m.type, shape: [...m.shape] } : 'not a tensor']));

/** A user turn with one picture, as the processor expands it (no splitting): fake, global-img, image × T, fake. */
const IMAGE_PROMPT = [
  SMOLVLM_TOKENS.imStart, 400, 401, 402,
  SMOLVLM_TOKENS.fakeTokenAroundImage, SMOLVLM_TOKENS.globalImg, ...Array<number>(IMAGE_TOKENS).fill(SMOLVLM_TOKENS.image), SMOLVLM_TOKENS.fakeTokenAroundImage,
  500, 610, 720, SMOLVLM_TOKENS.endOfUtterance, 830, 940,
];

describe('generated SmolVLM', () => {
  let dir: string;
  let vision: ort.InferenceSession;
  let embedTokens: ort.InferenceSession;
  let decoder: ort.InferenceSession;
  let features: Float32Array;

  /** [batch, views, 3, H, W] pixels in [−1, 1] and a mask; `valid[b][v]` false makes view v all padding. */
  const views = (valid: boolean[][], seed: number): Feeds => {
    const [batch, count] = [valid.length, valid[0]!.length];
    const pixels = new SeededRandom(seed).normalArray(batch * count * 3 * SIZE * SIZE, 0.5).map((v) => Math.max(-1, Math.min(1, v)));
    const mask = Uint8Array.from(valid.flat().flatMap((ok) => Array<number>(SIZE * SIZE).fill(ok ? 1 : 0)));
    return {
      pixel_values: new ort.Tensor('float32', pixels, [batch, count, 3, SIZE, SIZE]),
      pixel_attention_mask: new ort.Tensor('bool', mask, [batch, count, SIZE, SIZE]),
    };
  };
  const imageFeatures = async (seed: number): Promise<Float32Array> => (await vision.run(views([[true]], seed))).image_features!.data as Float32Array;

  /** inputs_embeds of `rows`, each <image> row replaced by the next image-feature row (Idefics3's inputs_merger). */
  const embedsOf = async (rows: number[][], image = features): Promise<ort.Tensor> => {
    const out = (await embedTokens.run({ input_ids: int64(rows) })).inputs_embeds!;
    const data = (out.data as Float32Array).slice();
    rows.forEach((ids, r) => {
      let next = 0;
      ids.forEach((id, p) => {
        if (id !== SMOLVLM_TOKENS.image) return;
        data.set(image.subarray(next * HIDDEN, (next + 1) * HIDDEN), (r * ids.length + p) * HIDDEN);
        next++;
      });
    });
    return new ort.Tensor('float32', data, out.dims);
  };
  /** Positions [start, end) of a batch-1 embeds tensor. */
  const slice = (embeds: ort.Tensor, start: number, end: number) =>
    new ort.Tensor('float32', (embeds.data as Float32Array).slice(start * HIDDEN, end * HIDDEN), [1, end - start, HIDDEN]);
  const emptyPasts = (batch: number): Feeds =>
    Object.fromEntries(range(LAYERS).flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, new ort.Tensor('float32', new Float32Array(0), [batch, TEXT.numKvHeads, 0, TEXT.headDim])])));
  const pastsFrom = (out: Feeds): Feeds => Object.fromEntries(range(LAYERS).flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, out[`present.${i}.${kv}`]!])));
  const decode = (session: ort.InferenceSession, embeds: ort.Tensor, mask: number[][], positions: number[][], pasts?: Feeds): Promise<Feeds> =>
    session.run({ inputs_embeds: embeds, attention_mask: int64(mask), position_ids: int64(positions), ...(pasts ?? emptyPasts(mask.length)) }) as Promise<Feeds>;

  before(async () => {
    dir = await tinySmolVlmDir();
    vision = await ort.InferenceSession.create(path.join(dir, 'onnx', 'vision_encoder.onnx'));
    embedTokens = await ort.InferenceSession.create(path.join(dir, 'onnx', 'embed_tokens.onnx'));
    decoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'decoder_model_merged.onnx'));
    features = await imageFeatures(1);
  });

  it('writes the real layout and configs', async () => {
    const files = ['config.json', 'generation_config.json', 'preprocessor_config.json', 'processor_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];
    const onnx = ['vision_encoder', 'embed_tokens', 'decoder_model_merged'].flatMap((name) => [`onnx/${name}.onnx`, `onnx/${name}_quantized.onnx`]);
    for (const file of [...files, ...onnx]) assert.ok(existsSync(path.join(dir, file)), file);
    const read = async (file: string) => JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, any>;
    const config = await read('config.json');
    assert.equal(config.model_type, 'idefics3');
    assert.equal(config.image_token_id, SMOLVLM_TOKENS.image);
    assert.equal(config.text_config.num_key_value_heads, TEXT.numKvHeads);
    assert.equal(config._generated.random_weights, true);
    assert.deepEqual((await read('processor_config.json')).image_seq_len, IMAGE_TOKENS);
    assert.deepEqual((await read('generation_config.json')).eos_token_id, [SMOLVLM_TOKENS.endOfUtterance, SMOLVLM_TOKENS.endOfText]);
    assert.deepEqual((await read('preprocessor_config.json')).max_image_size, { longest_edge: SIZE });
  });

  it('has the ONNX contract: names, dtypes, shapes', () => {
    const kvDims = (length: string) => ['batch_size', TEXT.numKvHeads, length, TEXT.headDim];
    const pasts = Object.fromEntries(range(LAYERS).flatMap((i) => ['key', 'value'].map((kv) => [`past_key_values.${i}.${kv}`, { type: 'float32', shape: kvDims('past_sequence_length') }])));
    const presents = Object.fromEntries(range(LAYERS).flatMap((i) => ['key', 'value'].map((kv) => [`present.${i}.${kv}`, { type: 'float32', shape: kvDims('total_sequence_length') }])));
    assert.deepEqual(contract(vision.inputMetadata), {
      pixel_values: { type: 'float32', shape: ['batch_size', 'num_images', 3, 'height', 'width'] },
      pixel_attention_mask: { type: 'bool', shape: ['batch_size', 'num_images', 'height', 'width'] },
    });
    assert.deepEqual(contract(vision.outputMetadata), { image_features: { type: 'float32', shape: ['num_valid_images', IMAGE_TOKENS, HIDDEN] } });
    assert.deepEqual(contract(embedTokens.inputMetadata), { input_ids: { type: 'int64', shape: ['batch_size', 'sequence_length'] } });
    assert.deepEqual(contract(embedTokens.outputMetadata), { inputs_embeds: { type: 'float32', shape: ['batch_size', 'sequence_length', HIDDEN] } });
    assert.deepEqual(decoder.inputNames, ['inputs_embeds', 'attention_mask', 'position_ids', ...Object.keys(pasts)]);
    assert.deepEqual(contract(decoder.inputMetadata), {
      inputs_embeds: { type: 'float32', shape: ['batch_size', 'sequence_length', HIDDEN] },
      attention_mask: { type: 'int64', shape: ['batch_size', 'total_sequence_length'] },
      position_ids: { type: 'int64', shape: ['batch_size', 'sequence_length'] },
      ...pasts,
    });
    assert.deepEqual(decoder.outputNames, ['logits', ...Object.keys(presents)]);
    assert.deepEqual(contract(decoder.outputMetadata), { logits: { type: 'float32', shape: ['batch_size', 'sequence_length', VOCAB] }, ...presents });
  });

  it('drops fully padded views and encodes each kept view as it does alone', async () => {
    const one = await vision.run(views([[true, false]], 7));
    assert.deepEqual(one.image_features!.dims, [1, IMAGE_TOKENS, HIDDEN]);
    const both = await vision.run(views([[true, true]], 7));
    assert.deepEqual(both.image_features!.dims, [2, IMAGE_TOKENS, HIDDEN]);
    const first = both.image_features!.data as Float32Array;
    assert.ok(maxDiff(one.image_features!.data as Float32Array, first.subarray(0, IMAGE_TOKENS * HIDDEN)) < 1e-5);
    // Two images of one view each (batch 2), the second padding: one view kept.
    assert.deepEqual((await vision.run(views([[true], [false]], 7))).image_features!.dims, [1, IMAGE_TOKENS, HIDDEN]);
  });

  it('continues a chunked prefill with the cache exactly as one prefill of the whole sequence', async () => {
    const embeds = await embedsOf([IMAGE_PROMPT]);
    const n = IMAGE_PROMPT.length;
    const whole = lastLogits((await decode(decoder, embeds, [Array(n).fill(1)], [range(n)])).logits!);
    // First 8 tokens (empty past), then a 5-token chunk on the cache, then one token at a time.
    const chunks = [[0, 8], [8, 13], ...range(n - 13, 13).map((p) => [p, p + 1])] as Array<[number, number]>;
    let pasts: Feeds | undefined;
    let out: Feeds | undefined;
    for (const [start, end] of chunks) {
      out = await decode(decoder, slice(embeds, start, end), [Array(end).fill(1)], [range(end - start, start)], pasts);
      assert.deepEqual(out['present.0.key']!.dims, [1, TEXT.numKvHeads, end, TEXT.headDim]);
      pasts = pastsFrom(out);
    }
    assert.ok(maxDiff(whole, lastLogits(out!.logits!)) < 1e-4);
  });

  it('gives a left-padded row, with its own positions, the logits it gets alone (prefill and the next step)', async () => {
    const long = IMAGE_PROMPT;
    const short = [SMOLVLM_TOKENS.imStart, 410, 520, 630, SMOLVLM_TOKENS.endOfUtterance];
    const pad = long.length - short.length;
    const alone = async (ids: number[], next: number) => {
      const first = await decode(decoder, await embedsOf([ids]), [Array(ids.length).fill(1)], [range(ids.length)]);
      const second = await decode(decoder, await embedsOf([[next]]), [Array(ids.length + 1).fill(1)], [[ids.length]], pastsFrom(first));
      return [lastLogits(first.logits!), lastLogits(second.logits!)];
    };
    const [longFirst, longSecond] = await alone(long, 777);
    const [shortFirst, shortSecond] = await alone(short, 888);

    const padded = [...Array<number>(pad).fill(SMOLVLM_TOKENS.imEnd), ...short];
    const mask = (extra: number) => [Array(long.length + extra).fill(1), [...Array(pad).fill(0), ...Array(short.length + extra).fill(1)]];
    const first = await decode(decoder, await embedsOf([long, padded]), mask(0), [range(long.length), [...Array(pad).fill(0), ...range(short.length)]]);
    for (const [row, logits] of [longFirst, shortFirst].entries()) assert.ok(maxDiff(logits!, lastLogits(first.logits!, row)) < 1e-4, `prefill row ${row}`);
    const second = await decode(decoder, await embedsOf([[777], [888]]), mask(1), [[long.length], [short.length]], pastsFrom(first));
    for (const [row, logits] of [longSecond, shortSecond].entries()) assert.ok(maxDiff(logits!, lastLogits(second.logits!, row)) < 1e-4, `step row ${row}`);
    assert.ok([...(first.logits!.data as Float32Array)].every(Number.isFinite), 'no NaN over the padding');
  });

  it('ties the head to the embed_tokens matrix: both files hold the seed-drawn rows', async () => {
    const expected = smolVlmEmbedTokens(TEXT);
    const ids = [0, 4, 6, 299, VOCAB - 1];
    const rows = (await embedTokens.run({ input_ids: int64([ids]) })).inputs_embeds!.data as Float32Array;
    ids.forEach((id, i) => assert.deepEqual(rows.subarray(i * HIDDEN, (i + 1) * HIDDEN), expected.subarray(id * HIDDEN, (id + 1) * HIDDEN)));
    const model = onnxProto.onnx.ModelProto.decode(await readFile(path.join(dir, 'onnx', 'decoder_model_merged.onnx')));
    const tied = model.graph!.initializer!.find((t) => t.name === 'model.text_model.embed_tokens.weight')!;
    assert.deepEqual(new Float32Array(new Uint8Array(tied.rawData!).buffer), expected); // a copy: rawData is a view into the file
    assert.ok(model.graph!.node!.some((n) => n.opType === 'Transpose' && n.input![0] === tied.name && n.output![0] === '/lm_head/Transpose_output_0'));
  });

  it('answers like a model: spread logits, greedy decoding that moves on, and the picture matters', async () => {
    const tokens = [...IMAGE_PROMPT];
    let out = await decode(decoder, await embedsOf([tokens]), [tokens.map(() => 1)], [range(tokens.length)]);
    const logits = lastLogits(out.logits!);
    const mean = logits.reduce((s, v) => s + v, 0) / VOCAB;
    const std = Math.sqrt(logits.reduce((s, v) => s + (v - mean) ** 2, 0) / VOCAB);
    assert.ok(std > 1 && std < 5, `logits std ${std}`);
    const generated: number[] = [];
    for (let step = 0; step < 16; step++) {
      const next = argmax(lastLogits(out.logits!));
      generated.push(next);
      tokens.push(next);
      out = await decode(decoder, await embedsOf([[next]]), [tokens.map(() => 1)], [[tokens.length - 1]], pastsFrom(out));
    }
    assert.ok(new Set(generated).size >= 4, `greedy tokens ${generated.join(' ')}`);
    const other = await imageFeatures(2);
    const withOther = lastLogits((await decode(decoder, await embedsOf([IMAGE_PROMPT], other), [IMAGE_PROMPT.map(() => 1)], [range(IMAGE_PROMPT.length)])).logits!);
    assert.ok(maxDiff(logits, withOther) > 0.5, `another picture moves the logits (${maxDiff(logits, withOther)})`);
  });

  it('ships q8 variants that run and stay close to fp32', async () => {
    const q8Vision = await ort.InferenceSession.create(path.join(dir, 'onnx', 'vision_encoder_quantized.onnx'));
    const q8Decoder = await ort.InferenceSession.create(path.join(dir, 'onnx', 'decoder_model_merged_quantized.onnx'));
    const q8Features = (await q8Vision.run(views([[true]], 1))).image_features!.data as Float32Array;
    assert.equal(q8Features.length, features.length);
    const embeds = await embedsOf([IMAGE_PROMPT]);
    const mask = [IMAGE_PROMPT.map(() => 1)];
    const fp32 = lastLogits((await decode(decoder, embeds, mask, [range(IMAGE_PROMPT.length)])).logits!);
    const q8 = lastLogits((await decode(q8Decoder, embeds, mask, [range(IMAGE_PROMPT.length)])).logits!);
    assert.ok(maxDiff(fp32, q8) < 1, `q8 logits within 1 of fp32 (${maxDiff(fp32, q8)})`);
  });

  it('ships the tokenizer and SmolVLM-Instruct chat template, read by transformers.js', async () => {
    const read = async (file: string) => JSON.parse(await readFile(path.join(dir, file), 'utf8')) as Record<string, unknown>;
    const tokenizer = new PreTrainedTokenizer(await read('tokenizer.json'), await read('tokenizer_config.json'));
    const messages = [
      { role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'Can you describe this image?' }] },
      { role: 'assistant', content: [{ type: 'text', text: 'A cat on a table.' }] },
      { role: 'user', content: [{ type: 'text', text: 'What color is it?' }] },
    ];
    const prompt = tokenizer.apply_chat_template(messages, { tokenize: false, add_generation_prompt: true });
    assert.equal(prompt, '<|im_start|>User:<image>Can you describe this image?<end_of_utterance>\nAssistant: A cat on a table.<end_of_utterance>\nUser: What color is it?<end_of_utterance>\nAssistant:');
    assert.deepEqual(tokenizer.encode('<image>', { add_special_tokens: false }), [SMOLVLM_TOKENS.image]);
    assert.deepEqual(tokenizer.encode('<end_of_utterance>', { add_special_tokens: false }), [SMOLVLM_TOKENS.endOfUtterance]);
    const ids = tokenizer.encode(prompt, { add_special_tokens: false });
    assert.equal(ids[0], SMOLVLM_TOKENS.imStart);
    assert.equal(ids.filter((id) => id === SMOLVLM_TOKENS.image).length, 1);
    assert.ok(ids.every((id) => id >= 0 && id < VOCAB));
    for (const text of ['The image shows a cat sitting on a wooden table.', 'Hello, world! 42 zebras — café ünïcode\n  spaced']) {
      assert.equal(tokenizer.decode(tokenizer.encode(text, { add_special_tokens: false })), text);
    }
    assert.equal(tokenizer.eos_token_id, SMOLVLM_TOKENS.endOfUtterance);
    assert.equal(tokenizer.pad_token_id, SMOLVLM_TOKENS.imEnd);
  });

  it('builds the GroupQueryAttention form (com.microsoft) and, where onnxruntime runs it, matches on unpadded rows', async () => {
    const graph = buildSmolVlmDecoderGraph(SMOLVLM_TINY, { groupQueryAttentionOp: true });
    const model = graph.toModel();
    assert.equal(model.graph!.node!.filter((n) => n.opType === 'GroupQueryAttention' && n.domain === 'com.microsoft').length, LAYERS);
    assert.ok(model.opsetImport!.some((o) => o.domain === 'com.microsoft'));
    const session = await ort.InferenceSession.create(graph.toBytes());
    assert.deepEqual(session.inputNames, decoder.inputNames);
    assert.deepEqual(session.outputNames, decoder.outputNames);
    const embeds = await embedsOf([IMAGE_PROMPT]);
    const n = IMAGE_PROMPT.length;
    const whole = lastLogits((await decode(decoder, embeds, [Array(n).fill(1)], [range(n)])).logits!);
    let out = await decode(session, slice(embeds, 0, n - 2), [Array(n - 2).fill(1)], [range(n - 2)]);
    for (const p of [n - 2, n - 1]) out = await decode(session, slice(embeds, p, p + 1), [Array(p + 1).fill(1)], [[p]], pastsFrom(out));
    assert.deepEqual(out['present.0.key']!.dims, [1, TEXT.numKvHeads, n, TEXT.headDim]);
    assert.ok(maxDiff(whole, lastLogits(out.logits!)) < 1e-4);
  });
});
