/**
 * A random-weight SmolVLM (Idefics3ForConditionalGeneration: a SigLIP vision tower, Idefics3's
 * pixel-shuffle connector, a Llama / SmolLM2 decoder) in the three-file ONNX layout of
 * HuggingFaceTB/SmolVLM-256M-Instruct's export (docs/architecture.md, "Model contracts it
 * implements"):
 *
 *   onnx/vision_encoder.onnx
 *     pixel_values          float32 [batch_size, num_images, 3, height, width]
 *     pixel_attention_mask  bool    [batch_size, num_images, height, width]
 *     → image_features      float32 [num_valid_images, image_seq_len, text_hidden]
 *       (views whose mask is all false — padding views — are dropped, as the real export does)
 *   onnx/embed_tokens.onnx
 *     input_ids int64 [batch_size, sequence_length] → inputs_embeds float32 [.., text_hidden]
 *   onnx/decoder_model_merged.onnx
 *     inputs_embeds [batch_size, sequence_length, hidden]; attention_mask int64
 *     [batch_size, total_sequence_length] (0 over left padding); position_ids int64
 *     [batch_size, sequence_length]; past_key_values.{i}.key|value [batch_size, kv_heads,
 *     past_sequence_length, head_dim]
 *     → logits [batch_size, sequence_length, vocab]; present.{i}.key|value [.., total_sequence_length, ..]
 *
 * The LM head is tied to the token embeddings: embed_tokens.onnx and the decoder draw that
 * matrix first from the same seed, so the two files agree exactly.
 *
 *   const decoder = buildSmolVlmDecoderGraph(SMOLVLM_TINY);
 */
import { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { patchFilters } from './patch-filters.js';
import { SeededRandom } from './seeded-random.js';
import { SMOLVLM_TOKENS } from './smolvlm-tokenizer.js';

export interface SmolVlmVisionSpec {
  imageSize: number;
  patchSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  layerNormEps: number;
  seed: number;
}

export interface SmolVlmTextSpec {
  vocabSize: number;
  hiddenSize: number;
  intermediateSize: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  numLayers: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositions: number;
  seed: number;
}

export interface SmolVlmSpec {
  vision: SmolVlmVisionSpec;
  text: SmolVlmTextSpec;
  /** Idefics3's pixel-shuffle factor: s² neighbouring patches become one image token. */
  scaleFactor: number;
}

const VISION = { layerNormEps: 1e-6, seed: 2025 } as const;
const TEXT = { rmsNormEps: 1e-5, ropeTheta: 100000, maxPositions: 8192, seed: 135 } as const;

/** For tests: 16 image tokens, two layers on each side, ~1 MB. */
export const SMOLVLM_TINY: SmolVlmSpec = {
  vision: { ...VISION, imageSize: 32, patchSize: 4, hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64 },
  text: { ...TEXT, vocabSize: 1200, hiddenSize: 64, intermediateSize: 128, numHeads: 4, numKvHeads: 2, headDim: 16, numLayers: 2 },
  scaleFactor: 2,
};

/** For `npm run demo`: 64 image tokens like the real model, small widths. */
export const SMOLVLM_DEMO: SmolVlmSpec = {
  vision: { ...VISION, imageSize: 128, patchSize: 8, hiddenSize: 96, numLayers: 4, numHeads: 3, intermediateSize: 384 },
  text: { ...TEXT, vocabSize: 8192, hiddenSize: 192, intermediateSize: 512, numHeads: 6, numKvHeads: 2, headDim: 32, numLayers: 4 },
  scaleFactor: 2,
};

/** HuggingFaceTB/SmolVLM-256M-Instruct's dimensions (SigLIP-B/16 at 512, SmolLM2-135M): the benchmark model. */
export const SMOLVLM_256M: SmolVlmSpec = {
  vision: { ...VISION, imageSize: 512, patchSize: 16, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072 },
  text: { ...TEXT, vocabSize: 49280, hiddenSize: 576, intermediateSize: 1536, numHeads: 9, numKvHeads: 3, headDim: 64, numLayers: 30 },
  scaleFactor: 4,
};

/** Image tokens per view: (imageSize / patchSize)² patches, s² of them merged per token. */
export function smolVlmImageSeqLen(spec: SmolVlmSpec): number {
  return (spec.vision.imageSize / spec.vision.patchSize) ** 2 / spec.scaleFactor ** 2;
}

export function checkSmolVlmSpec(spec: SmolVlmSpec): void {
  const { vision: v, text: t, scaleFactor: s } = spec;
  const side = v.imageSize / v.patchSize;
  if (!Number.isInteger(side)) throw new Error(`imageSize ${v.imageSize} is not a multiple of patchSize ${v.patchSize}`);
  if (side % s !== 0) throw new Error(`patches per side ${side} is not a multiple of scaleFactor ${s}`);
  if (v.hiddenSize % v.numHeads !== 0) throw new Error(`vision hiddenSize ${v.hiddenSize} is not a multiple of numHeads ${v.numHeads}`);
  if (t.numHeads % t.numKvHeads !== 0) throw new Error(`numHeads ${t.numHeads} is not a multiple of numKvHeads ${t.numKvHeads}`);
  if (t.headDim % 2 !== 0) throw new Error(`headDim ${t.headDim} must be even (rotary halves)`);
}

/**
 * Weight scales. Token embedding rows have norm `embed` and the final RMSNorm gain is
 * `finalGain`, so tied logits have std ≈ embed · finalGain ≈ 2.5 (neither flat nor one-hot). The
 * embeddings are small next to what each layer adds (RMSNorm'd inputs, unit-scale projections),
 * so the residual stream is not dominated by the current token's own row: with large tied
 * embeddings greedy decoding repeats one token forever (as gpt2-decoder-model.ts found). Image
 * tokens come in at `image` × the embedding scale, so a picture visibly moves the answer.
 */
const SCALE = { qk: 1.5, v: 1, out: 1, mlp: 1, embed: 0.5, finalGain: 5, image: 2, visionQk: 1.7, pos: 0.3, bias: 0.02 };
/** torch.finfo(float32).min, the additive mask value of the real export. */
const MASKED = -3.4028234663852886e38;

/**
 * The token embeddings [vocab, hidden], the first draw of the text seed: embed_tokens.onnx and the
 * decoder's tied head both call this, so they hold the same numbers.
 */
export function smolVlmEmbedTokens(text: SmolVlmTextSpec, rng = new SeededRandom(text.seed)): Float32Array {
  return rng.normalArray(text.vocabSize * text.hiddenSize, SCALE.embed / Math.sqrt(text.hiddenSize));
}

/** A builder with the helpers every graph here uses, drawing weights from `rng` in call order. */
function graphKit(g: OnnxGraphBuilder, rng: SeededRandom) {
  const normal = (name: string, dims: number[], std: number, mean = 0): string =>
    g.initializer(name, 'float32', dims, rng.normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
  const i64 = (name: string, values: number[], dims: number[] = [values.length]): string => g.constant(name, 'int64', dims, values);
  const f32 = (name: string, value: number): string => g.constant(name, 'float32', [], [value]);
  /** nn.Linear, weight stored [in, out] as the export's MatMul reads it. */
  const linear = (x: string, scope: string, param: string, inDim: number, outDim: number, scale: number, bias: boolean): string => {
    const y = g.op('MatMul', [x, normal(`${param}.weight`, [inDim, outDim], scale / Math.sqrt(inDim))], { name: `${scope}/MatMul` });
    return bias ? g.op('Add', [y, normal(`${param}.bias`, [outDim], SCALE.bias)], { name: `${scope}/Add` }) : y;
  };
  /** [B, L, heads·d] → [B, heads, L, d]. */
  const toHeads = (x: string, heads: number, headDim: number, scope: string): string =>
    g.op('Transpose', [g.op('Reshape', [x, i64(`const.shape_heads_${heads}x${headDim}`, [0, 0, heads, headDim])], { name: `${scope}/Reshape` })], { name: `${scope}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
  /** [B, heads, L, d] → [B, L, heads·d]. */
  const mergeHeads = (x: string, width: number, scope: string): string =>
    g.op('Reshape', [g.op('Transpose', [x], { name: `${scope}/Transpose_ctx`, attrs: { perm: [0, 2, 1, 3] } }), i64(`const.shape_merge_${width}`, [0, 0, width])], { name: `${scope}/Reshape_ctx` });
  /** softmax(q·kᵀ/√d (+ bias))·v. */
  const attend = (q: string, k: string, v: string, headDim: number, scope: string, bias?: string): string => {
    const kT = g.op('Transpose', [k], { name: `${scope}/Transpose_k`, attrs: { perm: [0, 1, 3, 2] } });
    let scores = g.op('Mul', [g.op('MatMul', [q, kT], { name: `${scope}/MatMul` }), f32(`const.scale_${headDim}`, 1 / Math.sqrt(headDim))], { name: `${scope}/Mul_scale` });
    if (bias) scores = g.op('Add', [scores, bias], { name: `${scope}/Add_mask` });
    return g.op('MatMul', [g.op('Softmax', [scores], { name: `${scope}/Softmax`, attrs: { axis: -1 } }), v], { name: `${scope}/MatMul_1` });
  };
  return { normal, i64, f32, linear, toHeads, mergeHeads, attend };
}

/**
 * onnx/vision_encoder.onnx: drop padding views, SigLIP patches + positions, pre-LN layers, post
 * LayerNorm, Idefics3Connector.pixel_shuffle, the modality projection (Linear, no bias).
 * Partial padding inside a view (patch attention mask) is not modelled: without image splitting
 * every view is a full square.
 */
export function buildSmolVlmVisionGraph(spec: SmolVlmSpec): OnnxGraphBuilder {
  checkSmolVlmSpec(spec);
  const { vision: v, text: t, scaleFactor: s } = spec;
  const { hiddenSize: h, patchSize: p, numHeads } = v;
  const headDim = h / numHeads;
  const side = v.imageSize / p;
  const patches = side * side;
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight SmolVLM vision encoder, seed ${v.seed}` });
  const rng = new SeededRandom(v.seed);
  const { normal, i64, f32, linear, toHeads, mergeHeads, attend } = graphKit(g, rng);
  const layerNorm = (x: string, scope: string, param: string): string =>
    g.op('LayerNormalization', [x, normal(`${param}.weight`, [h], 0.05, 1), normal(`${param}.bias`, [h], SCALE.bias)], {
      name: `${scope}/LayerNormalization`,
      attrs: { axis: -1, epsilon: { float: v.layerNormEps } },
    });

  const pixels = g.input('pixel_values', 'float32', ['batch_size', 'num_images', 3, 'height', 'width']);
  const mask = g.input('pixel_attention_mask', 'bool', ['batch_size', 'num_images', 'height', 'width']);

  // [B, N, 3, H, W] → [B·N, 3, H, W]; keep the views whose mask has any true pixel.
  const S = '/vision_model/select';
  const chw = g.op('Shape', [pixels], { name: `${S}/Shape`, attrs: { start: 2 } });
  const flatShape = g.op('Concat', [i64('const.minus_one', [-1]), chw], { name: `${S}/Concat`, attrs: { axis: 0 } });
  const views = g.op('Reshape', [pixels, flatShape], { name: `${S}/Reshape` });
  const maskRows = g.op('Flatten', [g.op('Cast', [mask], { name: `${S}/Cast`, attrs: { to: 1 } })], { name: `${S}/Flatten`, attrs: { axis: 2 } });
  const anyPixel = g.op('ReduceMax', [maskRows], { name: `${S}/ReduceMax`, attrs: { axes: [1], keepdims: 0 } });
  const valid = g.op('NonZero', [g.op('Greater', [anyPixel, f32('const.zero_f', 0)], { name: `${S}/Greater` })], { name: `${S}/NonZero` });
  const index = g.op('Reshape', [valid, i64('const.minus_one', [-1])], { name: `${S}/Reshape_index` });
  const kept = g.op('Gather', [views, index], { name: `${S}/Gather`, attrs: { axis: 0 } });

  // Patch embedding (Conv, stride = patch) → [K, patches, h], plus learned positions.
  const E = '/vision_model/embeddings';
  const P = 'model.vision_model';
  const convW = g.initializer(`${P}.embeddings.patch_embedding.weight`, 'float32', [h, 3, p, p], patchFilters(rng, h, 3, p));
  const conv = g.op('Conv', [kept, convW, normal(`${P}.embeddings.patch_embedding.bias`, [h], SCALE.bias)], {
    name: `${E}/patch_embedding/Conv`,
    attrs: { dilations: [1, 1], group: 1, kernel_shape: [p, p], pads: [0, 0, 0, 0], strides: [p, p] },
  });
  const flat = g.op('Transpose', [g.op('Reshape', [conv, i64('const.shape_flatten', [0, 0, -1])], { name: `${E}/Reshape` })], { name: `${E}/Transpose`, attrs: { perm: [0, 2, 1] } });
  let x = g.op('Add', [flat, normal(`${P}.embeddings.position_embedding.weight`, [patches, h], SCALE.pos)], { name: `${E}/Add` });

  for (let i = 0; i < v.numLayers; i++) {
    const L = `/vision_model/encoder/layers.${i}`;
    const W = `${P}.encoder.layers.${i}`;
    const A = `${L}/self_attn`;
    const n1 = layerNorm(x, `${L}/layer_norm1`, `${W}.layer_norm1`);
    const q = toHeads(linear(n1, `${A}/q_proj`, `${W}.self_attn.q_proj`, h, h, SCALE.visionQk, true), numHeads, headDim, `${A}/q`);
    const k = toHeads(linear(n1, `${A}/k_proj`, `${W}.self_attn.k_proj`, h, h, SCALE.visionQk, true), numHeads, headDim, `${A}/k`);
    const val = toHeads(linear(n1, `${A}/v_proj`, `${W}.self_attn.v_proj`, h, h, SCALE.v, true), numHeads, headDim, `${A}/v`);
    const ctx = mergeHeads(attend(q, k, val, headDim, A), h, A);
    x = g.op('Add', [x, linear(ctx, `${A}/out_proj`, `${W}.self_attn.out_proj`, h, h, SCALE.out, true)], { name: `${L}/Add` });

    // MLP with gelu_pytorch_tanh: 0.5·u·(1 + tanh(√(2/π)·(u + 0.044715·u³))).
    const up = linear(layerNorm(x, `${L}/layer_norm2`, `${W}.layer_norm2`), `${L}/mlp/fc1`, `${W}.mlp.fc1`, h, v.intermediateSize, SCALE.mlp, true);
    const G = `${L}/mlp/act`;
    const cube = g.op('Mul', [g.op('Pow', [up, f32('const.three', 3)], { name: `${G}/Pow` }), f32('const.gelu_coeff', 0.044715)], { name: `${G}/Mul` });
    const inner = g.op('Mul', [g.op('Add', [up, cube], { name: `${G}/Add` }), f32('const.sqrt_2_over_pi', Math.sqrt(2 / Math.PI))], { name: `${G}/Mul_1` });
    const onePlus = g.op('Add', [g.op('Tanh', [inner], { name: `${G}/Tanh` }), f32('const.one_f', 1)], { name: `${G}/Add_1` });
    const gelu = g.op('Mul', [g.op('Mul', [up, onePlus], { name: `${G}/Mul_2` }), f32('const.half', 0.5)], { name: `${G}/Mul_3` });
    x = g.op('Add', [x, linear(gelu, `${L}/mlp/fc2`, `${W}.mlp.fc2`, v.intermediateSize, h, SCALE.out, true)], { name: `${L}/Add_1` });
  }
  x = layerNorm(x, '/vision_model/post_layernorm', `${P}.post_layernorm`);

  // Idefics3Connector.pixel_shuffle, step for step (the first two views collapse into one Reshape):
  //   view(B, side, side/s, h·s) → permute(0,2,1,3) → reshape(B, side/s, side/s, h·s²)
  //   → permute(0,2,1,3) → reshape(B, patches/s², h·s²)
  const C = '/connector';
  let y = g.op('Reshape', [x, i64('const.shuffle_1', [-1, side, side / s, h * s])], { name: `${C}/Reshape` });
  y = g.op('Transpose', [y], { name: `${C}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
  y = g.op('Reshape', [y, i64('const.shuffle_2', [-1, side / s, side / s, h * s * s])], { name: `${C}/Reshape_1` });
  y = g.op('Transpose', [y], { name: `${C}/Transpose_1`, attrs: { perm: [0, 2, 1, 3] } });
  y = g.op('Reshape', [y, i64('const.shuffle_3', [-1, patches / (s * s), h * s * s])], { name: `${C}/Reshape_2` });
  // modality_projection (Idefics3SimpleMLP: one Linear, no bias), to the text width.
  const projStd = (SCALE.image * SCALE.embed) / Math.sqrt(t.hiddenSize) / Math.sqrt(h * s * s);
  const projW = normal('model.connector.modality_projection.proj.weight', [h * s * s, t.hiddenSize], projStd);
  g.op('MatMul', [y, projW], { name: `${C}/modality_projection/proj/MatMul`, output: 'image_features' });
  g.output('image_features', 'float32', ['num_valid_images', smolVlmImageSeqLen(spec), t.hiddenSize]);
  return g;
}

/** onnx/embed_tokens.onnx: a Gather on the (tied) embedding matrix. */
export function buildSmolVlmEmbedTokensGraph(spec: SmolVlmSpec): OnnxGraphBuilder {
  const { text: t } = spec;
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight SmolVLM token embeddings, seed ${t.seed}` });
  const weight = g.initializer('model.text_model.embed_tokens.weight', 'float32', [t.vocabSize, t.hiddenSize], smolVlmEmbedTokens(t));
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  g.op('Gather', [weight, ids], { name: '/embed_tokens/Gather', attrs: { axis: 0 }, output: 'inputs_embeds' });
  g.output('inputs_embeds', 'float32', ['batch_size', 'sequence_length', t.hiddenSize]);
  return g;
}

export interface SmolVlmDecoderOptions {
  /**
   * Attention as one `com.microsoft` GroupQueryAttention node per layer (rotary applied before it,
   * do_rotary 0), the form some exports use. The op takes each row's length (seqlens_k, from the
   * attention mask's sum) and assumes the row's cache starts at index 0: right-aligned rows only,
   * no left padding.
   */
  groupQueryAttentionOp?: boolean;
}

/** onnx/decoder_model_merged.onnx: the Llama decoder (RMSNorm, RoPE, GQA, SwiGLU), tied head. */
export function buildSmolVlmDecoderGraph(spec: SmolVlmSpec, options: SmolVlmDecoderOptions = {}): OnnxGraphBuilder {
  checkSmolVlmSpec(spec);
  const { text: t } = spec;
  const { hiddenSize: h, numHeads, numKvHeads, headDim: d, vocabSize } = t;
  const groups = numHeads / numKvHeads;
  const gqa = options.groupQueryAttentionOp === true;
  const g = new OnnxGraphBuilder({
    graphName: 'main_graph',
    docString: `random-weight SmolVLM text decoder, seed ${t.seed}`,
    extraOpsets: gqa ? { 'com.microsoft': 1 } : undefined,
  });
  const rng = new SeededRandom(t.seed);
  // First draw: the tied embedding matrix, the same numbers as embed_tokens.onnx holds.
  const embed = g.initializer('model.text_model.embed_tokens.weight', 'float32', [vocabSize, h], smolVlmEmbedTokens(t, rng));
  const { normal, i64, f32, linear, toHeads, mergeHeads, attend } = graphKit(g, rng);
  const two = f32('const.two', 2);
  const eps = f32('const.rms_eps', t.rmsNormEps);
  /** LlamaRMSNorm: x / √(mean(x²) + ε) · weight. */
  const rmsNorm = (x: string, scope: string, param: string, gain = 1): string => {
    const variance = g.op('ReduceMean', [g.op('Pow', [x, two], { name: `${scope}/Pow` })], { name: `${scope}/ReduceMean`, attrs: { axes: [-1], keepdims: 1 } });
    const inv = g.op('Reciprocal', [g.op('Sqrt', [g.op('Add', [variance, eps], { name: `${scope}/Add` })], { name: `${scope}/Sqrt` })], { name: `${scope}/Reciprocal` });
    return g.op('Mul', [g.op('Mul', [x, inv], { name: `${scope}/Mul` }), normal(`${param}.weight`, [h], 0.05 * gain, gain)], { name: `${scope}/Mul_1` });
  };

  const embeds = g.input('inputs_embeds', 'float32', ['batch_size', 'sequence_length', h]);
  const mask = g.input('attention_mask', 'int64', ['batch_size', 'total_sequence_length']);
  const positionIds = g.input('position_ids', 'int64', ['batch_size', 'sequence_length']);
  const pastDims = ['batch_size', numKvHeads, 'past_sequence_length', d];
  const pasts = Array.from({ length: t.numLayers }, (_, i) => ({
    key: g.input(`past_key_values.${i}.key`, 'float32', pastDims),
    value: g.input(`past_key_values.${i}.value`, 'float32', pastDims),
  }));

  // Rotary tables from position_ids (HF Llama): θ_j = pos · base^(−2j/d), cos/sin of [θ, θ].
  const M = '/model/text_model';
  const invFreq = g.initializer('model.text_model.rotary_emb.inv_freq', 'float32', [d / 2], Float32Array.from({ length: d / 2 }, (_, j) => t.ropeTheta ** (-(2 * j) / d)));
  const positions = g.op('Unsqueeze', [g.op('Cast', [positionIds], { name: `${M}/rotary_emb/Cast`, attrs: { to: 1 } }), i64('const.axes_last', [-1])], { name: `${M}/rotary_emb/Unsqueeze` });
  const freqs = g.op('Mul', [positions, invFreq], { name: `${M}/rotary_emb/Mul` });
  const angles = g.op('Concat', [freqs, freqs], { name: `${M}/rotary_emb/Concat`, attrs: { axis: -1 } });
  const axis1 = i64('const.axes_1', [1]);
  const cos = g.op('Unsqueeze', [g.op('Cos', [angles], { name: `${M}/rotary_emb/Cos` }), axis1], { name: `${M}/rotary_emb/Unsqueeze_cos` });
  const sin = g.op('Unsqueeze', [g.op('Sin', [angles], { name: `${M}/rotary_emb/Sin` }), axis1], { name: `${M}/rotary_emb/Unsqueeze_sin` });
  const half = i64('const.split_half', [d / 2, d / 2]);
  /** x·cos + rotate_half(x)·sin, rotate_half(x) = [−x₂, x₁] over [B, heads, L, d]. */
  const rope = (x: string, scope: string): string => {
    const [x1, x2] = g.node('Split', [x, half], { name: `${scope}/Split`, attrs: { axis: -1 }, outputs: 2 }) as [string, string];
    const rotated = g.op('Concat', [g.op('Neg', [x2], { name: `${scope}/Neg` }), x1], { name: `${scope}/Concat`, attrs: { axis: -1 } });
    return g.op('Add', [g.op('Mul', [x, cos], { name: `${scope}/Mul` }), g.op('Mul', [rotated, sin], { name: `${scope}/Mul_1` })], { name: `${scope}/Add` });
  };

  // Attention bias [B, 1, L, T]: the query at absolute position P + j sees key t ≤ P + j whose mask
  // is 1. Each query also always sees itself, so a padding query's row is never fully masked (no
  // NaN from its softmax); real queries never see padding keys.
  const scalar = (x: string, name: string) => g.op('Squeeze', [x, i64('const.axes_0', [0])], { name });
  const total = scalar(g.op('Shape', [mask], { name: `${M}/Shape_mask`, attrs: { start: 1, end: 2 } }), `${M}/Squeeze_total`);
  const one = i64('const.one', [1], []);
  const maskBias = (): string => {
    const length = scalar(g.op('Shape', [embeds], { name: `${M}/Shape_embeds`, attrs: { start: 1, end: 2 } }), `${M}/Squeeze_length`);
    const pastLength = g.op('Sub', [total, length], { name: `${M}/Sub_past` });
    const keys = g.op('Unsqueeze', [g.op('Range', [i64('const.zero', [0], []), total, one], { name: `${M}/Range_keys` }), i64('const.axes_0', [0])], { name: `${M}/Unsqueeze_keys` });
    const queries = g.op('Unsqueeze', [g.op('Range', [pastLength, total, one], { name: `${M}/Range_queries` }), axis1], { name: `${M}/Unsqueeze_queries` });
    const causal = g.op('LessOrEqual', [keys, queries], { name: `${M}/LessOrEqual_causal` });
    const itself = g.op('Equal', [keys, queries], { name: `${M}/Equal_self` });
    const keep = g.op('Cast', [g.op('Unsqueeze', [mask, i64('const.axes_1_2', [1, 2])], { name: `${M}/Unsqueeze_mask` })], { name: `${M}/Cast_mask`, attrs: { to: 9 } });
    const visible = g.op('And', [causal, g.op('Or', [keep, itself], { name: `${M}/Or_self` })], { name: `${M}/And_mask` });
    return g.op('Where', [visible, f32('const.zero_f', 0), f32('const.masked', MASKED)], { name: `${M}/Where_bias` });
  };
  const bias = gqa ? undefined : maskBias();
  // GroupQueryAttention's per-row lengths instead: seqlens_k = Σ mask − 1 and the total, both int32.
  const seqlensK = gqa
    ? g.op('Cast', [g.op('Sub', [g.op('ReduceSum', [mask, axis1], { name: `${M}/ReduceSum_mask`, attrs: { keepdims: 0 } }), one], { name: `${M}/Sub_seqlens` })], { name: `${M}/Cast_seqlens`, attrs: { to: 6 } })
    : undefined;
  const totalInt32 = gqa ? g.op('Cast', [total], { name: `${M}/Cast_total`, attrs: { to: 6 } }) : undefined;

  let x = embeds;
  for (let i = 0; i < t.numLayers; i++) {
    const L = `${M}/layers.${i}`;
    const W = `model.text_model.layers.${i}`;
    const A = `${L}/self_attn`;
    const n1 = rmsNorm(x, `${L}/input_layernorm`, `${W}.input_layernorm`);
    const q = rope(toHeads(linear(n1, `${A}/q_proj`, `${W}.self_attn.q_proj`, h, numHeads * d, SCALE.qk, false), numHeads, d, `${A}/q`), `${A}/q_rope`);
    const k = rope(toHeads(linear(n1, `${A}/k_proj`, `${W}.self_attn.k_proj`, h, numKvHeads * d, SCALE.qk, false), numKvHeads, d, `${A}/k`), `${A}/k_rope`);
    const vProj = linear(n1, `${A}/v_proj`, `${W}.self_attn.v_proj`, h, numKvHeads * d, SCALE.v, false);
    let ctx: string;
    if (gqa) {
      // Packed [B, L, heads·d] in, the present cache out (past + new, before any repetition).
      ctx = g.node(
        'GroupQueryAttention',
        [mergeHeads(q, numHeads * d, `${A}/q_packed`), mergeHeads(k, numKvHeads * d, `${A}/k_packed`), vProj, pasts[i]!.key, pasts[i]!.value, seqlensK!, totalInt32!],
        {
          name: `${A}/GroupQueryAttention`,
          domain: 'com.microsoft',
          attrs: { num_heads: numHeads, kv_num_heads: numKvHeads, do_rotary: 0, scale: { float: 1 / Math.sqrt(d) } },
          outputs: [`${A}/GroupQueryAttention_output_0`, `present.${i}.key`, `present.${i}.value`],
        },
      )[0]!;
    } else {
      const key = g.op('Concat', [pasts[i]!.key, k], { name: `${A}/Concat_key`, attrs: { axis: 2 }, output: `present.${i}.key` });
      const value = g.op('Concat', [pasts[i]!.value, toHeads(vProj, numKvHeads, d, `${A}/v`)], { name: `${A}/Concat_value`, attrs: { axis: 2 }, output: `present.${i}.value` });
      // repeat_kv: each key/value head serves `groups` query heads (head j reads kv head ⌊j / groups⌋).
      const repeat = (kv: string, scope: string): string =>
        groups === 1
          ? kv
          : g.op('Reshape', [g.op('Tile', [g.op('Unsqueeze', [kv, i64('const.axes_2', [2])], { name: `${scope}/Unsqueeze` }), i64('const.repeat_kv', [1, 1, groups, 1, 1])], { name: `${scope}/Tile` }), i64('const.shape_repeat_kv', [0, numHeads, -1, d])], {
              name: `${scope}/Reshape`,
            });
      ctx = mergeHeads(attend(q, repeat(key, `${A}/repeat_key`), repeat(value, `${A}/repeat_value`), d, A, bias), numHeads * d, A);
    }
    x = g.op('Add', [x, linear(ctx, `${A}/o_proj`, `${W}.self_attn.o_proj`, numHeads * d, h, SCALE.out, false)], { name: `${L}/Add` });

    // SwiGLU: down(silu(gate(x)) · up(x)).
    const n2 = rmsNorm(x, `${L}/post_attention_layernorm`, `${W}.post_attention_layernorm`);
    const gate = linear(n2, `${L}/mlp/gate_proj`, `${W}.mlp.gate_proj`, h, t.intermediateSize, SCALE.mlp, false);
    const up = linear(n2, `${L}/mlp/up_proj`, `${W}.mlp.up_proj`, h, t.intermediateSize, SCALE.mlp, false);
    const silu = g.op('Mul', [gate, g.op('Sigmoid', [gate], { name: `${L}/mlp/act_fn/Sigmoid` })], { name: `${L}/mlp/act_fn/Mul` });
    const gated = g.op('Mul', [silu, up], { name: `${L}/mlp/Mul` });
    x = g.op('Add', [x, linear(gated, `${L}/mlp/down_proj`, `${W}.mlp.down_proj`, t.intermediateSize, h, SCALE.out, false)], { name: `${L}/Add_1` });
  }

  // The head is tied: logits = norm(x) · Eᵀ.
  const final = rmsNorm(x, `${M}/norm`, 'model.text_model.norm', SCALE.finalGain);
  const embedT = g.op('Transpose', [embed], { name: '/lm_head/Transpose', attrs: { perm: [1, 0] } });
  g.op('MatMul', [final, embedT], { name: '/lm_head/MatMul', output: 'logits' });
  g.output('logits', 'float32', ['batch_size', 'sequence_length', vocabSize]);
  const presentDims = ['batch_size', numKvHeads, 'total_sequence_length', d];
  for (let i = 0; i < t.numLayers; i++) {
    g.output(`present.${i}.key`, 'float32', presentDims);
    g.output(`present.${i}.value`, 'float32', presentDims);
  }
  return g;
}

const GENERATED = { random_weights: true, generator: 'multimodal-inference-server' } as const;

/** `config.json` of an Idefics3ForConditionalGeneration, marked `_generated.random_weights`. */
export function smolVlmConfigJson(spec: SmolVlmSpec): Record<string, unknown> {
  const { vision: v, text: t } = spec;
  return {
    _generated: { ...GENERATED, seed: t.seed, vision_seed: v.seed },
    architectures: ['Idefics3ForConditionalGeneration'],
    model_type: 'idefics3',
    image_token_id: SMOLVLM_TOKENS.image,
    scale_factor: spec.scaleFactor,
    vocab_size: t.vocabSize,
    pad_token_id: SMOLVLM_TOKENS.imEnd,
    tie_word_embeddings: true,
    use_cache: true,
    text_config: {
      model_type: 'llama',
      architectures: ['VLlama3ForCausalLM'],
      hidden_size: t.hiddenSize,
      intermediate_size: t.intermediateSize,
      num_attention_heads: t.numHeads,
      num_key_value_heads: t.numKvHeads,
      num_hidden_layers: t.numLayers,
      head_dim: t.headDim,
      hidden_act: 'silu',
      rms_norm_eps: t.rmsNormEps,
      rope_theta: t.ropeTheta,
      rope_scaling: null,
      attention_bias: false,
      mlp_bias: false,
      vocab_size: t.vocabSize,
      max_position_embeddings: t.maxPositions,
      bos_token_id: SMOLVLM_TOKENS.imStart,
      eos_token_id: SMOLVLM_TOKENS.imEnd,
      pad_token_id: SMOLVLM_TOKENS.imEnd,
      tie_word_embeddings: true,
      torch_dtype: 'float32',
    },
    vision_config: {
      model_type: 'idefics3_vision',
      hidden_size: v.hiddenSize,
      intermediate_size: v.intermediateSize,
      num_attention_heads: v.numHeads,
      num_hidden_layers: v.numLayers,
      num_channels: 3,
      patch_size: v.patchSize,
      image_size: v.imageSize,
      hidden_act: 'gelu_pytorch_tanh',
      layer_norm_eps: v.layerNormEps,
    },
    torch_dtype: 'float32',
    transformers_version: '4.51.3',
  };
}

/** `generation_config.json`: generation stops at <end_of_utterance> (the chat turn's end) or <|endoftext|>. */
export function smolVlmGenerationConfigJson(): Record<string, unknown> {
  return {
    bos_token_id: SMOLVLM_TOKENS.imStart,
    eos_token_id: [SMOLVLM_TOKENS.endOfUtterance, SMOLVLM_TOKENS.endOfText],
    pad_token_id: SMOLVLM_TOKENS.imEnd,
    transformers_version: '4.51.3',
  };
}

/** `preprocessor_config.json` (Idefics3ImageProcessor), without image splitting: one view per image. */
export function smolVlmPreprocessorJson(spec: SmolVlmSpec): Record<string, unknown> {
  const size = spec.vision.imageSize;
  return {
    image_processor_type: 'Idefics3ImageProcessor',
    processor_class: 'Idefics3Processor',
    do_convert_rgb: true,
    do_resize: true,
    size: { longest_edge: 4 * size },
    resample: 1,
    do_rescale: true,
    rescale_factor: 0.00392156862745098,
    do_normalize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_std: [0.5, 0.5, 0.5],
    do_pad: true,
    do_image_splitting: false,
    max_image_size: { longest_edge: size },
  };
}

/** `processor_config.json`: how many <image> tokens stand for one view. */
export function smolVlmProcessorConfigJson(spec: SmolVlmSpec): Record<string, unknown> {
  return { image_seq_len: smolVlmImageSeqLen(spec), processor_class: 'Idefics3Processor' };
}
