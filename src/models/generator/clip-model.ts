/**
 * A random-weight CLIPModel in the layout and ONNX contracts of Xenova/clip-vit-base-patch32
 * (the transformers.js export):
 *
 *   onnx/text_model.onnx    input_ids int64 [batch_size, sequence_length]
 *                           -> text_embeds [batch_size, projection_dim] (not normalised),
 *                              last_hidden_state [batch_size, sequence_length, text_hidden]
 *   onnx/vision_model.onnx  pixel_values float32 [batch_size, 3, S, S]
 *                           -> image_embeds [batch_size, projection_dim] (not normalised),
 *                              last_hidden_state [batch_size, 1 + (S/P)², vision_hidden]
 *   onnx/model.onnx         input_ids, attention_mask int64 [text_batch_size, sequence_length],
 *                           pixel_values float32 [image_batch_size, 3, S, S]
 *                           -> logits_per_image [image_batch_size, text_batch_size],
 *                              logits_per_text [text_batch_size, image_batch_size],
 *                              text_embeds, image_embeds (L2-normalised)
 *
 *   const text = buildClipTextGraph(CLIP_TINY).toBytes();
 *
 * The text tower is causal and pools at argmax(input_ids) (the end token has the highest id), so
 * padding after the end token changes nothing; the combined model also applies `attention_mask`
 * (as transformers' CLIPTextTransformer does), which for right padding gives the same result.
 * Every graph draws its weights from per-tower generators seeded by `spec.seed`, so the combined
 * model holds exactly the towers' weights and towers + normalise + exp(logit_scale)·cosine
 * reproduce its logits. Weight names follow the PyTorch parameters; MatMul weights are [in, out].
 */
import { clipTokenizerFiles } from './clip-tokenizer.js';
import { OnnxGraphBuilder, type Dim } from './onnx-graph-builder.js';
import { patchFilters } from './patch-filters.js';
import { SeededRandom } from './seeded-random.js';

export interface ClipSpec {
  /** Token embedding rows; 0 = the generated tokenizer's size (otherwise at least that). */
  vocabSize: number;
  textHidden: number;
  textLayers: number;
  textHeads: number;
  textIntermediate: number;
  /** Longest text (77 in CLIP). */
  maxPositions: number;
  visionHidden: number;
  visionLayers: number;
  visionHeads: number;
  visionIntermediate: number;
  imageSize: number;
  patchSize: number;
  projectionDim: number;
  layerNormEps: number;
  seed: number;
}

const BASE = { maxPositions: 77, layerNormEps: 1e-5, imageSize: 224, patchSize: 32, seed: 1234 } as const;

/** For tests: generation and load take milliseconds. */
export const CLIP_TINY: ClipSpec = {
  ...BASE, vocabSize: 0, textHidden: 32, textLayers: 2, textHeads: 2, textIntermediate: 64,
  visionHidden: 32, visionLayers: 2, visionHeads: 2, visionIntermediate: 64, projectionDim: 16,
};
/** Small enough to generate and answer in moments on CPU, big enough to batch visibly: the demo. */
export const CLIP_DEMO: ClipSpec = {
  ...BASE, vocabSize: 0, textHidden: 128, textLayers: 4, textHeads: 4, textIntermediate: 512,
  visionHidden: 192, visionLayers: 6, visionHeads: 3, visionIntermediate: 768, projectionDim: 128,
};
/** openai/clip-vit-base-patch32 dimensions (151M parameters). */
export const CLIP_B32: ClipSpec = {
  ...BASE, vocabSize: 49408, textHidden: 512, textLayers: 12, textHeads: 8, textIntermediate: 2048,
  visionHidden: 768, visionLayers: 12, visionHeads: 12, visionIntermediate: 3072, projectionDim: 512,
};

/** ln(100): the trained OpenAI logit scale (logits = 100·cosine); config's init value stays 2.6592. */
export const CLIP_LOGIT_SCALE = Math.log(100);
/** Added to masked attention scores (finite, so a fully masked row stays finite). */
const MASKED = -1e9;

/**
 * Weight scales, chosen so random weights behave like a trained model's where the server shows it:
 * attention neither uniform nor one-hot, texts that differ in one word and different images get
 * clearly different embeddings (cosine well below 0.99), everything finite.
 */
const SCALE = {
  qk: 1.7, v: 1.4, out: 1.4, mlpIn: 1, mlpOut: 1, bias: 0.02,
  token: 1, textPos: 0.3, cls: 0.3, visionPos: 0.3, projection: 1,
};

export function clipNumPatches(spec: ClipSpec): number {
  return (spec.imageSize / spec.patchSize) ** 2;
}

/** The embedding table size: spec.vocabSize, or the generated tokenizer's when 0 (never smaller). */
export function clipVocabSize(spec: ClipSpec): number {
  const tokenizerSize = clipTokenizerFiles().vocabSize;
  if (spec.vocabSize === 0) return tokenizerSize;
  if (spec.vocabSize < tokenizerSize) throw new Error(`vocabSize ${spec.vocabSize} is smaller than the tokenizer's ${tokenizerSize}`);
  return spec.vocabSize;
}

function validate(spec: ClipSpec): void {
  if (spec.imageSize % spec.patchSize !== 0) throw new Error(`imageSize ${spec.imageSize} is not a multiple of patchSize ${spec.patchSize}`);
  if (spec.textHidden % spec.textHeads !== 0) throw new Error(`textHidden ${spec.textHidden} is not a multiple of textHeads ${spec.textHeads}`);
  if (spec.visionHidden % spec.visionHeads !== 0) throw new Error(`visionHidden ${spec.visionHidden} is not a multiple of visionHeads ${spec.visionHeads}`);
}

/** Text and vision weights come from separate streams, so each tower is the same in every graph. */
const textRng = (spec: ClipSpec): SeededRandom => new SeededRandom(spec.seed);
const visionRng = (spec: ClipSpec): SeededRandom => new SeededRandom((spec.seed ^ 0x5bd1e995) | 0);

/** Helpers bound to one builder, one weight stream and one name prefix for shared constants. */
class TowerBuilder {
  constructor(
    readonly g: OnnxGraphBuilder,
    readonly rng: SeededRandom,
    readonly constPrefix: string,
    readonly eps: number,
  ) {}

  normal(name: string, dims: number[], std: number, mean = 0): string {
    return this.g.initializer(name, 'float32', dims, this.rng.normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
  }

  i64(name: string, values: number[], dims: number[] = [values.length]): string {
    return this.g.constant(`${this.constPrefix}.${name}`, 'int64', dims, values);
  }

  f32(name: string, value: number): string {
    return this.g.constant(`${this.constPrefix}.${name}`, 'float32', [], [value]);
  }

  linear(x: string, scope: string, param: string, inDim: number, outDim: number, scale: number, bias = true, output?: string): string {
    const w = this.normal(`${param}.weight`, [inDim, outDim], scale / Math.sqrt(inDim));
    if (!bias) return this.g.op('MatMul', [x, w], { name: `${scope}/MatMul`, output });
    const b = this.normal(`${param}.bias`, [outDim], SCALE.bias);
    const y = this.g.op('MatMul', [x, w], { name: `${scope}/MatMul` });
    return this.g.op('Add', [b, y], { name: `${scope}/Add`, output });
  }

  layerNorm(x: string, scope: string, param: string, dim: number, output?: string): string {
    const gamma = this.normal(`${param}.weight`, [dim], 0.05, 1);
    const beta = this.normal(`${param}.bias`, [dim], SCALE.bias);
    return this.g.op('LayerNormalization', [x, gamma, beta], {
      name: `${scope}/LayerNormalization`,
      attrs: { axis: -1, epsilon: { float: this.eps } },
      output,
    });
  }

  /**
   * CLIP encoder layers (pre-LN; attention with plain ops and a named Softmax; quick_gelu MLP).
   * `bias`, when given, is added to the scaled scores (causal and padding masks; broadcastable
   * to [batch, heads, seq, seq]).
   */
  encoder(x: string, tower: 'text_model' | 'vision_model', dims: { hidden: number; heads: number; intermediate: number; layers: number }, bias?: string): string {
    const { g } = this;
    const { hidden: h, heads, intermediate } = dims;
    const headDim = h / heads;
    const splitHeads = this.i64('shape_heads', [0, 0, heads, headDim]);
    const mergeHeads = this.i64('shape_merge', [0, 0, h]);
    const scale = this.f32('attention_scale', 1 / Math.sqrt(headDim));
    const quickGeluAlpha = this.f32('quick_gelu_alpha', 1.702);
    for (let i = 0; i < dims.layers; i++) {
      const L = `/${tower}/encoder/layers.${i}`;
      const P = `${tower}.encoder.layers.${i}`;
      const A = `${L}/self_attn`;
      const normed = this.layerNorm(x, `${L}/layer_norm1`, `${P}.layer_norm1`, h);
      const q = this.linear(normed, `${A}/q_proj`, `${P}.self_attn.q_proj`, h, h, SCALE.qk);
      const k = this.linear(normed, `${A}/k_proj`, `${P}.self_attn.k_proj`, h, h, SCALE.qk);
      const v = this.linear(normed, `${A}/v_proj`, `${P}.self_attn.v_proj`, h, h, SCALE.v);
      const qh = g.op('Transpose', [g.op('Reshape', [q, splitHeads], { name: `${A}/Reshape` })], { name: `${A}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
      const kh = g.op('Transpose', [g.op('Reshape', [k, splitHeads], { name: `${A}/Reshape_1` })], { name: `${A}/Transpose_1`, attrs: { perm: [0, 2, 3, 1] } });
      const vh = g.op('Transpose', [g.op('Reshape', [v, splitHeads], { name: `${A}/Reshape_2` })], { name: `${A}/Transpose_2`, attrs: { perm: [0, 2, 1, 3] } });
      let scores = g.op('Mul', [g.op('MatMul', [qh, kh], { name: `${A}/MatMul` }), scale], { name: `${A}/Mul` });
      if (bias) scores = g.op('Add', [scores, bias], { name: `${A}/Add` });
      const probs = g.op('Softmax', [scores], { name: `${A}/Softmax`, attrs: { axis: -1 } });
      const ctx = g.op('MatMul', [probs, vh], { name: `${A}/MatMul_1` });
      const merged = g.op('Reshape', [g.op('Transpose', [ctx], { name: `${A}/Transpose_3`, attrs: { perm: [0, 2, 1, 3] } }), mergeHeads], { name: `${A}/Reshape_3` });
      const attnOut = this.linear(merged, `${A}/out_proj`, `${P}.self_attn.out_proj`, h, h, SCALE.out);
      x = g.op('Add', [x, attnOut], { name: `${L}/Add` });

      const normed2 = this.layerNorm(x, `${L}/layer_norm2`, `${P}.layer_norm2`, h);
      const up = this.linear(normed2, `${L}/mlp/fc1`, `${P}.mlp.fc1`, h, intermediate, SCALE.mlpIn);
      const act = `${L}/mlp/activation_fn`; // quick_gelu: x·sigmoid(1.702·x)
      const sig = g.op('Sigmoid', [g.op('Mul', [up, quickGeluAlpha], { name: `${act}/Mul` })], { name: `${act}/Sigmoid` });
      const gelu = g.op('Mul', [up, sig], { name: `${act}/Mul_1` });
      const down = this.linear(gelu, `${L}/mlp/fc2`, `${P}.mlp.fc2`, intermediate, h, SCALE.mlpOut);
      x = g.op('Add', [x, down], { name: `${L}/Add_1` });
    }
    return x;
  }
}

interface TowerOutputs {
  /** Projected pooled features [batch, projection_dim], not normalised. */
  embeds: string;
  lastHiddenState: string;
}

/**
 * The text tower into `g`: token + position embeddings, causal encoder, final_layer_norm, pooled
 * at argmax(input_ids) (cast to int32 first, as the HF export does), text_projection.
 */
function addTextTower(g: OnnxGraphBuilder, spec: ClipSpec, inputIds: string, names: { embeds?: string; lastHiddenState?: string }, attentionMask?: string): TowerOutputs {
  const t = new TowerBuilder(g, textRng(spec), 'text_model.const', spec.layerNormEps);
  const h = spec.textHidden;
  const P = spec.maxPositions;
  const E = '/text_model/embeddings';
  const tokenTable = t.normal('text_model.embeddings.token_embedding.weight', [clipVocabSize(spec), h], SCALE.token);
  const posTable = t.normal('text_model.embeddings.position_embedding.weight', [P, h], SCALE.textPos);
  const tokens = g.op('Gather', [tokenTable, inputIds], { name: `${E}/token_embedding/Gather`, attrs: { axis: 0 } });
  const shape = g.op('Shape', [inputIds], { name: `${E}/Shape` });
  const seqLen = g.op('Gather', [shape, t.i64('index_1_1d', [1])], { name: `${E}/Gather`, attrs: { axis: 0 } });
  const zero1d = t.i64('index_0_1d', [0]);
  const positions = g.op('Slice', [posTable, zero1d, seqLen, zero1d], { name: `${E}/position_embedding/Slice` });
  const x0 = g.op('Add', [tokens, positions], { name: `${E}/Add` });

  // Causal mask: a [1, 1, P, P] constant (0 on and below the diagonal), sliced to [1, 1, L, L].
  const causal = new Float32Array(P * P);
  for (let r = 0; r < P; r++) for (let c = r + 1; c < P; c++) causal[r * P + c] = MASKED;
  const causalTable = g.constant('text_model.const.causal_mask', 'float32', [1, 1, P, P], causal);
  const ends = g.op('Concat', [seqLen, seqLen], { name: '/text_model/causal_mask/Concat', attrs: { axis: 0 } });
  let bias = g.op('Slice', [causalTable, t.i64('zeros_2', [0, 0]), ends, t.i64('axes_2_3', [2, 3])], { name: '/text_model/causal_mask/Slice' });
  if (attentionMask) {
    // transformers' _prepare_4d_attention_mask: (1 - mask) · min, as [batch, 1, 1, L].
    const M = '/text_model/attention_mask';
    const mask = g.op('Cast', [attentionMask], { name: `${M}/Cast`, attrs: { to: 1 } });
    const inverted = g.op('Sub', [t.f32('one', 1), mask], { name: `${M}/Sub` });
    const padding = g.op('Mul', [inverted, t.f32('masked', MASKED)], { name: `${M}/Mul` });
    const expanded = g.op('Unsqueeze', [padding, t.i64('axes_1_2', [1, 2])], { name: `${M}/Unsqueeze` });
    bias = g.op('Add', [bias, expanded], { name: `${M}/Add` });
  }

  const encoded = t.encoder(x0, 'text_model', { hidden: h, heads: spec.textHeads, intermediate: spec.textIntermediate, layers: spec.textLayers }, bias);
  const last = t.layerNorm(encoded, '/text_model/final_layer_norm', 'text_model.final_layer_norm', h, names.lastHiddenState);
  const ids32 = g.op('Cast', [inputIds], { name: '/text_model/Cast', attrs: { to: 6 } });
  const eosIndex = g.op('ArgMax', [ids32], { name: '/text_model/ArgMax', attrs: { axis: -1, keepdims: 1 } });
  const pooled = g.op('GatherND', [last, eosIndex], { name: '/text_model/GatherND', attrs: { batch_dims: 1 } });
  const embeds = t.linear(pooled, '/text_projection', 'text_projection', h, spec.projectionDim, SCALE.projection, false, names.embeds);
  return { embeds, lastHiddenState: last };
}

/**
 * The vision tower into `g`: Conv patch embedding (no bias), class_embedding, position embeddings,
 * pre_layrnorm, encoder, post_layernorm on the CLS token, visual_projection.
 */
function addVisionTower(g: OnnxGraphBuilder, spec: ClipSpec, pixels: string, names: { embeds?: string; lastHiddenState?: string }): TowerOutputs {
  const t = new TowerBuilder(g, visionRng(spec), 'vision_model.const', spec.layerNormEps);
  const { visionHidden: h, patchSize: p } = spec;
  const tokens = clipNumPatches(spec) + 1;
  const E = '/vision_model/embeddings';
  const classEmbedding = t.normal('vision_model.embeddings.class_embedding', [h], SCALE.cls);
  const convW = g.initializer('vision_model.embeddings.patch_embedding.weight', 'float32', [h, 3, p, p], patchFilters(t.rng, h, 3, p));
  const posTable = t.normal('vision_model.embeddings.position_embedding.weight', [tokens, h], SCALE.visionPos);
  const conv = g.op('Conv', [pixels, convW], {
    name: `${E}/patch_embedding/Conv`,
    attrs: { dilations: [1, 1], group: 1, kernel_shape: [p, p], pads: [0, 0, 0, 0], strides: [p, p] },
  });
  const flat = g.op('Reshape', [conv, t.i64('shape_flatten', [0, 0, -1])], { name: `${E}/Reshape` });
  const patches = g.op('Transpose', [flat], { name: `${E}/Transpose`, attrs: { perm: [0, 2, 1] } });
  const shape = g.op('Shape', [pixels], { name: `${E}/Shape` });
  const batch = g.op('Gather', [shape, t.i64('index_0_1d', [0])], { name: `${E}/Gather`, attrs: { axis: 0 } });
  const clsShape = g.op('Concat', [batch, t.i64('shape_1_h', [1, h])], { name: `${E}/Concat`, attrs: { axis: 0 } });
  const cls = g.op('Expand', [classEmbedding, clsShape], { name: `${E}/Expand` });
  const seq = g.op('Concat', [cls, patches], { name: `${E}/Concat_1`, attrs: { axis: 1 } });
  const x0 = g.op('Add', [seq, posTable], { name: `${E}/Add` });
  const pre = t.layerNorm(x0, '/vision_model/pre_layrnorm', 'vision_model.pre_layrnorm', h);

  const last = t.encoder(pre, 'vision_model', { hidden: h, heads: spec.visionHeads, intermediate: spec.visionIntermediate, layers: spec.visionLayers });
  const lastOut = names.lastHiddenState ? g.op('Identity', [last], { name: '/vision_model/Identity', output: names.lastHiddenState }) : last;
  const clsOut = g.op('Gather', [last, t.i64('index_0', [0], [])], { name: '/vision_model/Gather', attrs: { axis: 1 } });
  const pooled = t.layerNorm(clsOut, '/vision_model/post_layernorm', 'vision_model.post_layernorm', h);
  const embeds = t.linear(pooled, '/visual_projection', 'visual_projection', h, spec.projectionDim, SCALE.projection, false, names.embeds);
  return { embeds, lastHiddenState: lastOut };
}

/** text_model.onnx: input_ids -> text_embeds (not normalised), last_hidden_state. */
export function buildClipTextGraph(spec: ClipSpec): OnnxGraphBuilder {
  validate(spec);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight CLIP text model, seed ${spec.seed}` });
  const ids = g.input('input_ids', 'int64', ['batch_size', 'sequence_length']);
  addTextTower(g, spec, ids, { embeds: 'text_embeds', lastHiddenState: 'last_hidden_state' });
  g.output('text_embeds', 'float32', ['batch_size', spec.projectionDim]);
  g.output('last_hidden_state', 'float32', ['batch_size', 'sequence_length', spec.textHidden]);
  return g;
}

/** vision_model.onnx: pixel_values -> image_embeds (not normalised), last_hidden_state. */
export function buildClipVisionGraph(spec: ClipSpec): OnnxGraphBuilder {
  validate(spec);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight CLIP vision model, seed ${spec.seed}` });
  const S = spec.imageSize;
  const pixels = g.input('pixel_values', 'float32', ['batch_size', 3, S, S]);
  addVisionTower(g, spec, pixels, { embeds: 'image_embeds', lastHiddenState: 'last_hidden_state' });
  g.output('image_embeds', 'float32', ['batch_size', spec.projectionDim]);
  g.output('last_hidden_state', 'float32', ['batch_size', clipNumPatches(spec) + 1, spec.visionHidden]);
  return g;
}

/**
 * model.onnx (the zero-shot pipeline's): both towers (the same weights as the tower graphs),
 * L2-normalised embeddings, logits_per_text = exp(logit_scale) · text·imageᵀ and its transpose.
 * attention_mask is used (added to the causal mask as transformers does).
 */
export function buildClipCombinedGraph(spec: ClipSpec): OnnxGraphBuilder {
  validate(spec);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight CLIP model, seed ${spec.seed}` });
  const S = spec.imageSize;
  const textDims: Dim[] = ['text_batch_size', 'sequence_length'];
  const ids = g.input('input_ids', 'int64', textDims);
  const pixels = g.input('pixel_values', 'float32', ['image_batch_size', 3, S, S]);
  const mask = g.input('attention_mask', 'int64', textDims);
  const text = addTextTower(g, spec, ids, {}, mask);
  const vision = addVisionTower(g, spec, pixels, {});

  const normalise = (x: string, scope: string, output: string): string => {
    const norm = g.op('ReduceL2', [x], { name: `${scope}/ReduceL2`, attrs: { axes: [-1], keepdims: 1 } });
    return g.op('Div', [x, norm], { name: `${scope}/Div`, output });
  };
  const imageEmbeds = normalise(vision.embeds, '/image_embeds', 'image_embeds');
  const textEmbeds = normalise(text.embeds, '/text_embeds', 'text_embeds');
  const logitScale = g.initializer('logit_scale', 'float32', [], [CLIP_LOGIT_SCALE]);
  const scale = g.op('Exp', [logitScale], { name: '/Exp' });
  const imageT = g.op('Transpose', [imageEmbeds], { name: '/Transpose', attrs: { perm: [1, 0] } });
  const cosine = g.op('MatMul', [textEmbeds, imageT], { name: '/MatMul' });
  const logitsPerText = g.op('Mul', [cosine, scale], { name: '/Mul', output: 'logits_per_text' });
  g.op('Transpose', [logitsPerText], { name: '/Transpose_1', attrs: { perm: [1, 0] }, output: 'logits_per_image' });

  g.output('logits_per_image', 'float32', ['image_batch_size', 'text_batch_size']);
  g.output('logits_per_text', 'float32', ['text_batch_size', 'image_batch_size']);
  g.output('text_embeds', 'float32', ['text_batch_size', spec.projectionDim]);
  g.output('image_embeds', 'float32', ['image_batch_size', spec.projectionDim]);
  return g;
}

/** A CLIPModel `config.json` like openai/clip-vit-base-patch32's, marked `_generated.random_weights`. */
export function clipConfigJson(spec: ClipSpec): Record<string, unknown> {
  return {
    _generated: { random_weights: true, seed: spec.seed, generator: 'multimodal-inference-server' },
    architectures: ['CLIPModel'],
    initializer_factor: 1.0,
    logit_scale_init_value: 2.6592,
    model_type: 'clip',
    projection_dim: spec.projectionDim,
    text_config: {
      attention_dropout: 0.0,
      // The real config's legacy ids: eos_token_id 2 makes transformers pool at argmax(input_ids), as this graph does.
      bos_token_id: 0,
      dropout: 0.0,
      eos_token_id: 2,
      hidden_act: 'quick_gelu',
      hidden_size: spec.textHidden,
      initializer_factor: 1.0,
      initializer_range: 0.02,
      intermediate_size: spec.textIntermediate,
      layer_norm_eps: spec.layerNormEps,
      max_position_embeddings: spec.maxPositions,
      model_type: 'clip_text_model',
      num_attention_heads: spec.textHeads,
      num_hidden_layers: spec.textLayers,
      projection_dim: spec.projectionDim,
      torch_dtype: 'float32',
      vocab_size: clipVocabSize(spec),
    },
    torch_dtype: 'float32',
    transformers_version: '4.51.3',
    vision_config: {
      attention_dropout: 0.0,
      dropout: 0.0,
      hidden_act: 'quick_gelu',
      hidden_size: spec.visionHidden,
      image_size: spec.imageSize,
      initializer_factor: 1.0,
      initializer_range: 0.02,
      intermediate_size: spec.visionIntermediate,
      layer_norm_eps: spec.layerNormEps,
      model_type: 'clip_vision_model',
      num_attention_heads: spec.visionHeads,
      num_channels: 3,
      num_hidden_layers: spec.visionLayers,
      patch_size: spec.patchSize,
      projection_dim: spec.projectionDim,
      torch_dtype: 'float32',
    },
  };
}

/** `preprocessor_config.json`: CLIPImageProcessor as openai/clip-vit-base-patch32 ships it, at spec.imageSize. */
export function clipPreprocessorJson(spec: ClipSpec): Record<string, unknown> {
  return {
    crop_size: { height: spec.imageSize, width: spec.imageSize },
    do_center_crop: true,
    do_convert_rgb: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073],
    image_processor_type: 'CLIPImageProcessor',
    image_std: [0.26862954, 0.26130258, 0.27577711],
    resample: 3,
    rescale_factor: 1 / 255,
    size: { shortest_edge: spec.imageSize },
  };
}
