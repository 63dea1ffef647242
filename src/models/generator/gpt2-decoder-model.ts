/**
 * A random-weight GPT-2 decoder with cross-attention, in the contract of the merged decoder that
 * a vision-encoder-decoder captioner exports (`onnx/decoder_model_merged.onnx` of
 * Xenova/vit-gpt2-image-captioning; docs/architecture.md, "Model contracts it implements"):
 *
 *   input_ids                      int64   [batch_size, decoder_sequence_length]
 *   encoder_hidden_states          float32 [batch_size, encoder_sequence_length, hidden]
 *   use_cache_branch               bool    [1]
 *   past_key_values.{i}.key|value  float32 [batch_size, heads, past_decoder_sequence_length, head_dim]
 *   → logits                       float32 [batch_size, decoder_sequence_length, vocab]
 *   → present.{i}.key|value        float32 [batch_size, heads, past + current length, head_dim]
 *
 * No attention mask and no position ids: positions continue from the past length, so the rows
 * of a batch must share it (lockstep). The real merged graph switches on `use_cache_branch`
 * between a first-step branch and a with-past branch (an If node); both compute the same
 * function, and here one graph does (Concat with an empty past is the first step), so the flag
 * is taken but not read.
 *
 *   const graph = buildGpt2DecoderGraph(VIT_GPT2_TINY.decoder);
 */
import { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { SeededRandom } from './seeded-random.js';

export interface Gpt2Spec {
  vocabSize: number;
  /** Learned positions (GPT-2's n_positions). */
  maxPositions: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  seed: number;
}

/**
 * Weight scales. The head is tied to small token embeddings and the final norm's gain is large,
 * so the logits keep std ≈ 2–3 (sampling at temperature 1 is neither uniform nor one-hot) while
 * the residual stream is not dominated by the input token's own embedding: with large tied
 * embeddings greedy decoding repeats one token forever.
 */
const SCALE = { qkv: 1.5, proj: 1, mlp: 1, bias: 0.02, wte: 0.15, wpe: 0.3, finalGain: 3 };

export function buildGpt2DecoderGraph(spec: Gpt2Spec): OnnxGraphBuilder {
  const { hiddenSize: h, numHeads, vocabSize } = spec;
  if (h % numHeads !== 0) throw new Error(`hiddenSize ${h} is not a multiple of numHeads ${numHeads}`);
  const headDim = h / numHeads;
  const rng = new SeededRandom(spec.seed);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight GPT-2 decoder with cross-attention, seed ${spec.seed}` });
  const normal = (name: string, dims: number[], std: number, mean = 0): string =>
    g.initializer(name, 'float32', dims, rng.normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
  const i64 = (name: string, values: number[], dims: number[] = [values.length]): string => g.constant(name, 'int64', dims, values);
  const f32 = (name: string, value: number): string => g.constant(name, 'float32', [], [value]);
  // GPT-2's Conv1D stores weights [in, out], as the MatMul in the export reads them.
  const conv1d = (x: string, scope: string, param: string, inDim: number, outDim: number, scale: number, output?: string): string => {
    const w = normal(`${param}.weight`, [inDim, outDim], scale / Math.sqrt(inDim));
    const b = normal(`${param}.bias`, [outDim], SCALE.bias);
    return g.op('Add', [g.op('MatMul', [x, w], { name: `${scope}/MatMul` }), b], { name: `${scope}/Add`, output });
  };
  const layerNorm = (x: string, scope: string, param: string, gain = 1): string =>
    g.op('LayerNormalization', [x, normal(`${param}.weight`, [h], 0.05 * gain, gain), normal(`${param}.bias`, [h], SCALE.bias)], {
      name: `${scope}/LayerNormalization`,
      attrs: { axis: -1, epsilon: { float: spec.layerNormEps } },
    });
  const splitHeads = i64('const.shape_heads', [0, 0, numHeads, headDim]);
  const mergeHeads = i64('const.shape_merge', [0, 0, h]);
  const toHeads = (x: string, scope: string): string =>
    g.op('Transpose', [g.op('Reshape', [x, splitHeads], { name: `${scope}/Reshape` })], { name: `${scope}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
  const sqrtHeadDim = f32('const.sqrt_head_dim', Math.sqrt(headDim));
  /** softmax(q·kᵀ/√d + bias)·v over heads, merged back to [B, L, h]. */
  const attend = (q: string, k: string, v: string, scope: string, bias?: string): string => {
    const kT = g.op('Transpose', [k], { name: `${scope}/Transpose_k`, attrs: { perm: [0, 1, 3, 2] } });
    let scores = g.op('Div', [g.op('MatMul', [q, kT], { name: `${scope}/MatMul` }), sqrtHeadDim], { name: `${scope}/Div` });
    if (bias) scores = g.op('Add', [scores, bias], { name: `${scope}/Add_mask` });
    const probs = g.op('Softmax', [scores], { name: `${scope}/Softmax`, attrs: { axis: -1 } });
    const ctx = g.op('MatMul', [probs, v], { name: `${scope}/MatMul_1` });
    return g.op('Reshape', [g.op('Transpose', [ctx], { name: `${scope}/Transpose_ctx`, attrs: { perm: [0, 2, 1, 3] } }), mergeHeads], { name: `${scope}/Reshape_ctx` });
  };

  const ids = g.input('input_ids', 'int64', ['batch_size', 'decoder_sequence_length']);
  const encoder = g.input('encoder_hidden_states', 'float32', ['batch_size', 'encoder_sequence_length', h]);
  g.input('use_cache_branch', 'bool', [1]);
  const pastDims = ['batch_size', numHeads, 'past_decoder_sequence_length', headDim];
  const presentDims = ['batch_size', numHeads, 'past_decoder_sequence_length + decoder_sequence_length', headDim];
  const pasts = Array.from({ length: spec.numLayers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, 'float32', pastDims),
    value: g.input(`past_key_values.${i}.value`, 'float32', pastDims),
  }));

  // Positions continue from the past length: past … past + L − 1.
  const T = '/decoder/transformer';
  const scalar = (x: string, name: string) => g.op('Squeeze', [x, i64('const.axis_0', [0])], { name });
  const pastLength = scalar(g.op('Shape', [pasts[0]!.key], { name: `${T}/Shape_past`, attrs: { start: 2, end: 3 } }), `${T}/Squeeze_past`);
  const length = scalar(g.op('Shape', [ids], { name: `${T}/Shape_ids`, attrs: { start: 1, end: 2 } }), `${T}/Squeeze_ids`);
  const total = g.op('Add', [pastLength, length], { name: `${T}/Add_total` });
  const one = i64('const.one', [1], []);
  const positions = g.op('Range', [pastLength, total, one], { name: `${T}/Range_positions` });
  const wte = normal('decoder.transformer.wte.weight', [vocabSize, h], SCALE.wte);
  const wpe = normal('decoder.transformer.wpe.weight', [spec.maxPositions, h], SCALE.wpe);
  const tokens = g.op('Gather', [wte, ids], { name: `${T}/wte/Gather`, attrs: { axis: 0 } });
  let x = g.op('Add', [tokens, g.op('Gather', [wpe, positions], { name: `${T}/wpe/Gather`, attrs: { axis: 0 } })], { name: `${T}/Add_embeddings` });

  // Causal mask over the past and current keys: query at position p sees keys 0 … p.
  const keys = g.op('Range', [i64('const.zero', [0], []), total, one], { name: `${T}/Range_keys` });
  const visible = g.op('LessOrEqual', [g.op('Unsqueeze', [keys, i64('const.axes_0', [0])], { name: `${T}/Unsqueeze_keys` }), g.op('Unsqueeze', [positions, i64('const.axes_1', [1])], { name: `${T}/Unsqueeze_queries` })], {
    name: `${T}/LessOrEqual_causal`,
  });
  const causalBias = g.op('Where', [visible, f32('const.zero_f', 0), f32('const.masked', -1e9)], { name: `${T}/Where_causal` });

  for (let i = 0; i < spec.numLayers; i++) {
    const L = `${T}/h.${i}`;
    const P = `decoder.transformer.h.${i}`;
    const qkv = conv1d(layerNorm(x, `${L}/ln_1`, `${P}.ln_1`), `${L}/attn/c_attn`, `${P}.attn.c_attn`, h, 3 * h, SCALE.qkv);
    const [q, k, v] = g.node('Split', [qkv, i64('const.split_qkv', [h, h, h])], { name: `${L}/attn/Split`, attrs: { axis: 2 }, outputs: 3 }) as [string, string, string];
    const present = {
      key: g.op('Concat', [pasts[i]!.key, toHeads(k, `${L}/attn/k`)], { name: `${L}/attn/Concat_key`, attrs: { axis: 2 }, output: `present.${i}.key` }),
      value: g.op('Concat', [pasts[i]!.value, toHeads(v, `${L}/attn/v`)], { name: `${L}/attn/Concat_value`, attrs: { axis: 2 }, output: `present.${i}.value` }),
    };
    const selfAttention = attend(toHeads(q, `${L}/attn/q`), present.key, present.value, `${L}/attn`, causalBias);
    x = g.op('Add', [x, conv1d(selfAttention, `${L}/attn/c_proj`, `${P}.attn.c_proj`, h, h, SCALE.proj)], { name: `${L}/Add` });

    // Cross-attention to the image tokens (recomputed each step: the contract caches only self-attention).
    const C = `${L}/crossattention`;
    const crossQ = conv1d(layerNorm(x, `${L}/ln_cross_attn`, `${P}.ln_cross_attn`), `${C}/q_attn`, `${P}.crossattention.q_attn`, h, h, SCALE.qkv);
    const kv = conv1d(encoder, `${C}/c_attn`, `${P}.crossattention.c_attn`, h, 2 * h, SCALE.qkv);
    const [crossK, crossV] = g.node('Split', [kv, i64('const.split_kv', [h, h])], { name: `${C}/Split`, attrs: { axis: 2 }, outputs: 2 }) as [string, string];
    const crossAttention = attend(toHeads(crossQ, `${C}/q`), toHeads(crossK, `${C}/k`), toHeads(crossV, `${C}/v`), C);
    x = g.op('Add', [x, conv1d(crossAttention, `${C}/c_proj`, `${P}.crossattention.c_proj`, h, h, SCALE.proj)], { name: `${L}/Add_1` });

    // MLP with GPT-2's gelu_new: 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))).
    const up = conv1d(layerNorm(x, `${L}/ln_2`, `${P}.ln_2`), `${L}/mlp/c_fc`, `${P}.mlp.c_fc`, h, 4 * h, SCALE.mlp);
    const A = `${L}/mlp/act`;
    const cube = g.op('Mul', [g.op('Pow', [up, f32('const.three', 3)], { name: `${A}/Pow` }), f32('const.gelu_coeff', 0.044715)], { name: `${A}/Mul` });
    const inner = g.op('Mul', [g.op('Add', [up, cube], { name: `${A}/Add` }), f32('const.sqrt_2_over_pi', Math.sqrt(2 / Math.PI))], { name: `${A}/Mul_1` });
    const onePlus = g.op('Add', [g.op('Tanh', [inner], { name: `${A}/Tanh` }), f32('const.one_f', 1)], { name: `${A}/Add_1` });
    const gelu = g.op('Mul', [g.op('Mul', [up, onePlus], { name: `${A}/Mul_2` }), f32('const.half', 0.5)], { name: `${A}/Mul_3` });
    x = g.op('Add', [x, conv1d(gelu, `${L}/mlp/c_proj`, `${P}.mlp.c_proj`, 4 * h, h, SCALE.proj)], { name: `${L}/Add_2` });
  }

  // The language-model head is tied to the token embeddings.
  const final = layerNorm(x, `${T}/ln_f`, 'decoder.transformer.ln_f', SCALE.finalGain);
  const wteT = g.op('Transpose', [wte], { name: '/decoder/lm_head/Transpose', attrs: { perm: [1, 0] } });
  g.op('MatMul', [final, wteT], { name: '/decoder/lm_head/MatMul', output: 'logits' });
  g.output('logits', 'float32', ['batch_size', 'decoder_sequence_length', vocabSize]);
  for (let i = 0; i < spec.numLayers; i++) {
    g.output(`present.${i}.key`, 'float32', presentDims);
    g.output(`present.${i}.value`, 'float32', presentDims);
  }
  return g;
}
