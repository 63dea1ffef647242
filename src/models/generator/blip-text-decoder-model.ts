/**
 * A random-weight BLIP text decoder (BlipTextLMHeadModel: BERT layers with cross-attention to
 * the image tokens, post-LayerNorm, exact GELU, a prediction head tied to the word embeddings)
 * in the contract this server defines for BLIP (docs/architecture.md, "Model contracts it
 * implements"), optimum's unmerged seq2seq layout:
 *
 *   decoder_model.onnx (first step, the prompt):
 *     input_ids               int64   [batch_size, decoder_sequence_length]
 *     attention_mask          int64   [batch_size, decoder_sequence_length]        0 over left padding
 *     position_ids            int64   [batch_size, decoder_sequence_length]        each row's own
 *     encoder_hidden_states   float32 [batch_size, encoder_sequence_length, encoder_hidden]
 *     encoder_attention_mask  int64   [batch_size, encoder_sequence_length]
 *     → logits                float32 [batch_size, decoder_sequence_length, vocab]
 *     → present.{i}.decoder.key|value  [batch_size, heads, decoder_sequence_length, head_dim]
 *     → present.{i}.encoder.key|value  [batch_size, heads, encoder_sequence_length, head_dim]
 *
 *   decoder_with_past_model.onnx (every later step):
 *     input_ids, position_ids [batch_size, 1]; attention_mask [batch_size, past + 1];
 *     encoder_attention_mask; past_key_values.{i}.decoder.key|value (the self-attention cache,
 *     growing) and past_key_values.{i}.encoder.key|value (the cross-attention keys and values,
 *     computed once by the first step and fed back unchanged)
 *     → logits, present.{i}.decoder.key|value
 *
 * Position ids are inputs (BERT adds learned absolute positions): a left-padded row keeps its own.
 *
 *   const first = buildBlipTextDecoderGraph(BLIP_TINY.text, BLIP_TINY.vision.hiddenSize, 'first');
 */
import { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { SeededRandom } from './seeded-random.js';

export interface BlipTextSpec {
  vocabSize: number;
  maxPositions: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  layerNormEps: number;
  seed: number;
}

export type BlipDecoderForm = 'first' | 'with_past';

/** Weight scales: logits with std ≈ 2–3 whatever the width (the head is tied to the embeddings). */
const SCALE = { qk: 1.5, v: 1, out: 1, mlp: 1, bias: 0.02, pos: 0.3, logitsStd: 2.5 };

export function buildBlipTextDecoderGraph(spec: BlipTextSpec, encoderHidden: number, form: BlipDecoderForm): OnnxGraphBuilder {
  const { hiddenSize: h, numHeads, vocabSize, intermediateSize } = spec;
  if (h % numHeads !== 0) throw new Error(`hiddenSize ${h} is not a multiple of numHeads ${numHeads}`);
  const headDim = h / numHeads;
  // Both forms draw the same weights in the same order: the with-past graph is the same model.
  const rng = new SeededRandom(spec.seed);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight BLIP text decoder (${form}), seed ${spec.seed}` });
  const normal = (name: string, dims: number[], std: number, mean = 0): string =>
    g.initializer(name, 'float32', dims, rng.normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
  const skipDraws = (count: number): void => void rng.normalArray(count, 1);
  const i64 = (name: string, values: number[], dims: number[] = [values.length]): string => g.constant(name, 'int64', dims, values);
  const f32 = (name: string, value: number): string => g.constant(name, 'float32', [], [value]);
  // nn.Linear weights stored [in, out], as the export's MatMul reads them.
  const linear = (x: string, scope: string, param: string, inDim: number, outDim: number, scale: number): string => {
    const w = normal(`${param}.weight`, [inDim, outDim], scale / Math.sqrt(inDim));
    return g.op('Add', [g.op('MatMul', [x, w], { name: `${scope}/MatMul` }), normal(`${param}.bias`, [outDim], SCALE.bias)], { name: `${scope}/Add` });
  };
  const layerNorm = (x: string, scope: string, param: string): string =>
    g.op('LayerNormalization', [x, normal(`${param}.weight`, [h], 0.05, 1), normal(`${param}.bias`, [h], SCALE.bias)], {
      name: `${scope}/LayerNorm`,
      attrs: { axis: -1, epsilon: { float: spec.layerNormEps } },
    });
  /** GELU as BERT has it: 0.5·x·(1 + erf(x/√2)). */
  const gelu = (x: string, scope: string): string => {
    const erf = g.op('Erf', [g.op('Div', [x, f32('const.sqrt2', Math.SQRT2)], { name: `${scope}/Div` })], { name: `${scope}/Erf` });
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [erf, f32('const.one_f', 1)], { name: `${scope}/Add` })], { name: `${scope}/Mul` }), f32('const.half', 0.5)], { name: `${scope}/Mul_1` });
  };
  const splitHeads = i64('const.shape_heads', [0, 0, numHeads, headDim]);
  const mergeHeads = i64('const.shape_merge', [0, 0, h]);
  const toHeads = (x: string, scope: string, output?: string): string =>
    g.op('Transpose', [g.op('Reshape', [x, splitHeads], { name: `${scope}/Reshape` })], { name: `${scope}/Transpose`, attrs: { perm: [0, 2, 1, 3] }, output });
  const sqrtHeadDim = f32('const.sqrt_head_dim', Math.sqrt(headDim));
  const attend = (q: string, k: string, v: string, bias: string, scope: string): string => {
    const kT = g.op('Transpose', [k], { name: `${scope}/Transpose_k`, attrs: { perm: [0, 1, 3, 2] } });
    const scores = g.op('Add', [g.op('Div', [g.op('MatMul', [q, kT], { name: `${scope}/MatMul` }), sqrtHeadDim], { name: `${scope}/Div` }), bias], { name: `${scope}/Add_mask` });
    const ctx = g.op('MatMul', [g.op('Softmax', [scores], { name: `${scope}/Softmax`, attrs: { axis: -1 } }), v], { name: `${scope}/MatMul_1` });
    return g.op('Reshape', [g.op('Transpose', [ctx], { name: `${scope}/Transpose_ctx`, attrs: { perm: [0, 2, 1, 3] } }), mergeHeads], { name: `${scope}/Reshape_ctx` });
  };

  const withPast = form === 'with_past';
  const ids = g.input('input_ids', 'int64', ['batch_size', 'decoder_sequence_length']);
  const mask = g.input('attention_mask', 'int64', ['batch_size', withPast ? 'past_decoder_sequence_length + 1' : 'decoder_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'decoder_sequence_length']);
  const encoder = withPast ? undefined : g.input('encoder_hidden_states', 'float32', ['batch_size', 'encoder_sequence_length', encoderHidden]);
  const encoderMask = g.input('encoder_attention_mask', 'int64', ['batch_size', 'encoder_sequence_length']);
  const selfPastDims = ['batch_size', numHeads, 'past_decoder_sequence_length', headDim];
  const crossDims = ['batch_size', numHeads, 'encoder_sequence_length', headDim];
  const pasts = Array.from({ length: spec.numLayers }, (_, i) =>
    withPast
      ? {
          key: g.input(`past_key_values.${i}.decoder.key`, 'float32', selfPastDims),
          value: g.input(`past_key_values.${i}.decoder.value`, 'float32', selfPastDims),
          crossKey: g.input(`past_key_values.${i}.encoder.key`, 'float32', crossDims),
          crossValue: g.input(`past_key_values.${i}.encoder.value`, 'float32', crossDims),
        }
      : undefined,
  );

  const T = '/text_decoder/bert';
  const masked = f32('const.masked', -1e9);
  const zero = f32('const.zero_f', 0);
  // Self-attention bias [B, 1, L, P + L]: a query at position P + q sees keys 0 … P + q that the mask keeps.
  const total = g.op('Shape', [mask], { name: `${T}/Shape_mask`, attrs: { start: 1, end: 2 } });
  const length = g.op('Shape', [ids], { name: `${T}/Shape_ids`, attrs: { start: 1, end: 2 } });
  const scalar = (x: string, name: string) => g.op('Squeeze', [x, i64('const.axis_0', [0])], { name });
  const [totalScalar, lengthScalar] = [scalar(total, `${T}/Squeeze_total`), scalar(length, `${T}/Squeeze_length`)];
  const pastLength = g.op('Sub', [totalScalar, lengthScalar], { name: `${T}/Sub_past` });
  const one = i64('const.one', [1], []);
  const keys = g.op('Range', [i64('const.zero', [0], []), totalScalar, one], { name: `${T}/Range_keys` });
  const queries = g.op('Range', [pastLength, totalScalar, one], { name: `${T}/Range_queries` });
  const causal = g.op('LessOrEqual', [g.op('Unsqueeze', [keys, i64('const.axes_0', [0])], { name: `${T}/Unsqueeze_keys` }), g.op('Unsqueeze', [queries, i64('const.axes_1', [1])], { name: `${T}/Unsqueeze_queries` })], {
    name: `${T}/LessOrEqual_causal`,
  });
  const keep = g.op('Cast', [g.op('Unsqueeze', [mask, i64('const.axes_1_2', [1, 2])], { name: `${T}/Unsqueeze_mask` })], { name: `${T}/Cast_mask`, attrs: { to: 9 } });
  const selfBias = g.op('Where', [g.op('And', [causal, keep], { name: `${T}/And_mask` }), zero, masked], { name: `${T}/Where_self_bias` });
  const encoderKeep = g.op('Cast', [g.op('Unsqueeze', [encoderMask, i64('const.axes_1_2', [1, 2])], { name: `${T}/Unsqueeze_encoder_mask` })], { name: `${T}/Cast_encoder_mask`, attrs: { to: 9 } });
  const crossBias = g.op('Where', [encoderKeep, zero, masked], { name: `${T}/Where_cross_bias` });

  const E = `${T}/embeddings`;
  const wordEmbeddings = normal('text_decoder.bert.embeddings.word_embeddings.weight', [vocabSize, h], SCALE.logitsStd / Math.sqrt(h));
  const positionEmbeddings = normal('text_decoder.bert.embeddings.position_embeddings.weight', [spec.maxPositions, h], SCALE.pos);
  const embedded = g.op('Add', [g.op('Gather', [wordEmbeddings, ids], { name: `${E}/word/Gather`, attrs: { axis: 0 } }), g.op('Gather', [positionEmbeddings, positionIds], { name: `${E}/position/Gather`, attrs: { axis: 0 } })], {
    name: `${E}/Add`,
  });
  let x = layerNorm(embedded, E, 'text_decoder.bert.embeddings.LayerNorm');

  for (let i = 0; i < spec.numLayers; i++) {
    const L = `${T}/encoder/layer.${i}`;
    const P = `text_decoder.bert.encoder.layer.${i}`;
    const S = `${L}/attention/self`;
    const q = toHeads(linear(x, `${S}/query`, `${P}.attention.self.query`, h, h, SCALE.qk), `${S}/q`);
    const newKey = toHeads(linear(x, `${S}/key`, `${P}.attention.self.key`, h, h, SCALE.qk), `${S}/k`, withPast ? undefined : `present.${i}.decoder.key`);
    const newValue = toHeads(linear(x, `${S}/value`, `${P}.attention.self.value`, h, h, SCALE.v), `${S}/v`, withPast ? undefined : `present.${i}.decoder.value`);
    const past = pasts[i];
    const key = past ? g.op('Concat', [past.key, newKey], { name: `${S}/Concat_key`, attrs: { axis: 2 }, output: `present.${i}.decoder.key` }) : newKey;
    const value = past ? g.op('Concat', [past.value, newValue], { name: `${S}/Concat_value`, attrs: { axis: 2 }, output: `present.${i}.decoder.value` }) : newValue;
    const selfOut = linear(attend(q, key, value, selfBias, S), `${L}/attention/output/dense`, `${P}.attention.output.dense`, h, h, SCALE.out);
    x = layerNorm(g.op('Add', [selfOut, x], { name: `${L}/attention/output/Add` }), `${L}/attention/output`, `${P}.attention.output.LayerNorm`);

    const C = `${L}/crossattention/self`;
    const crossQ = toHeads(linear(x, `${C}/query`, `${P}.crossattention.self.query`, h, h, SCALE.qk), `${C}/q`);
    // Only the first step projects the image tokens; the with-past form draws (and drops) the same
    // numbers so that the weights after them match.
    const crossKey = past ? (skipDraws(encoderHidden * h + h), past.crossKey) : toHeads(linear(encoder!, `${C}/key`, `${P}.crossattention.self.key`, encoderHidden, h, SCALE.qk), `${C}/k`, `present.${i}.encoder.key`);
    const crossValue = past ? (skipDraws(encoderHidden * h + h), past.crossValue) : toHeads(linear(encoder!, `${C}/value`, `${P}.crossattention.self.value`, encoderHidden, h, SCALE.v), `${C}/v`, `present.${i}.encoder.value`);
    const crossOut = linear(attend(crossQ, crossKey, crossValue, crossBias, C), `${L}/crossattention/output/dense`, `${P}.crossattention.output.dense`, h, h, SCALE.out);
    x = layerNorm(g.op('Add', [crossOut, x], { name: `${L}/crossattention/output/Add` }), `${L}/crossattention/output`, `${P}.crossattention.output.LayerNorm`);

    const up = gelu(linear(x, `${L}/intermediate/dense`, `${P}.intermediate.dense`, h, intermediateSize, SCALE.mlp), `${L}/intermediate/gelu`);
    const down = linear(up, `${L}/output/dense`, `${P}.output.dense`, intermediateSize, h, SCALE.out);
    x = layerNorm(g.op('Add', [down, x], { name: `${L}/output/Add` }), `${L}/output`, `${P}.output.LayerNorm`);
  }

  // The prediction head: dense → GELU → LayerNorm → the word embeddings, transposed (tied), + bias.
  const H = '/text_decoder/cls/predictions';
  const transformed = layerNorm(gelu(linear(x, `${H}/transform/dense`, 'text_decoder.cls.predictions.transform.dense', h, h, 1), `${H}/transform/gelu`), `${H}/transform`, 'text_decoder.cls.predictions.transform.LayerNorm');
  const tied = g.op('Transpose', [wordEmbeddings], { name: `${H}/decoder/Transpose`, attrs: { perm: [1, 0] } });
  g.op('Add', [g.op('MatMul', [transformed, tied], { name: `${H}/decoder/MatMul` }), normal('text_decoder.cls.predictions.bias', [vocabSize], SCALE.bias)], { name: `${H}/decoder/Add`, output: 'logits' });

  g.output('logits', 'float32', ['batch_size', 'decoder_sequence_length', vocabSize]);
  const presentDims = ['batch_size', numHeads, withPast ? 'past_decoder_sequence_length + 1' : 'decoder_sequence_length', headDim];
  for (let i = 0; i < spec.numLayers; i++) {
    g.output(`present.${i}.decoder.key`, 'float32', presentDims);
    g.output(`present.${i}.decoder.value`, 'float32', presentDims);
    if (withPast) continue;
    g.output(`present.${i}.encoder.key`, 'float32', crossDims);
    g.output(`present.${i}.encoder.value`, 'float32', crossDims);
  }
  return g;
}
