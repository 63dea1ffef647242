/**
 * A random-weight ViTForImageClassification in the layout and ONNX contract of the Hugging Face
 * (Optimum / Xenova) export: `pixel_values` float32 [batch_size, 3, H, W] -> `logits`
 * float32 [batch_size, num_labels], plain-op attention with one Softmax node per layer named
 * `/vit/encoder/layer.{i}/attention/attention/Softmax`.
 *
 *   const bytes = buildVitOnnx(VIT_TINY); // a Uint8Array ready for InferenceSession.create
 *
 * Weight names follow the PyTorch parameter names; MatMul weights are stored [in, out] (the
 * transpose of nn.Linear's [out, in], as the export does).
 */
import { OnnxGraphBuilder } from './onnx-graph-builder.js';
import { patchFilters } from './patch-filters.js';
import { SeededRandom } from './seeded-random.js';

export interface VitSpec {
  imageSize: number;
  patchSize: number;
  numChannels: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  intermediateSize: number;
  numLabels: number;
  layerNormEps: number;
  seed: number;
  /** Labels are `${labelPrefix} ${i}`; default 'random class'. */
  labelPrefix?: string;
}

const BASE = { numChannels: 3, layerNormEps: 1e-12, seed: 1234 } as const;

/** For tests: generation and load take milliseconds. */
export const VIT_TINY: VitSpec = { ...BASE, imageSize: 224, patchSize: 16, hiddenSize: 32, numLayers: 2, numHeads: 2, intermediateSize: 64, numLabels: 10 };
/** DeiT-Tiny dimensions (5.7M parameters): a demo that answers quickly on CPU. */
export const VIT_DEMO: VitSpec = { ...BASE, imageSize: 224, patchSize: 16, hiddenSize: 192, numLayers: 12, numHeads: 3, intermediateSize: 768, numLabels: 1000 };
/** ViT-B/16 dimensions (86.6M parameters, ~346 MB): the benchmark model. */
export const VIT_BASE: VitSpec = { ...BASE, imageSize: 224, patchSize: 16, hiddenSize: 768, numLayers: 12, numHeads: 12, intermediateSize: 3072, numLabels: 1000 };
/**
 * Slow on purpose, for tests that check the server stays responsive during inference: 224×224
 * input cut into 4×4 patches (3,137 tokens), so attention dominates: ~75 GFLOP per image
 * (≈ 4 × ViT-B/16) from 2.8M parameters (11 MB, generated in ~0.15 s). One image took 0.9 s
 * (1.7 s on a busy machine) at 1 intra-op thread on a 2-core AVX-512 Xeon. Each attention map is 2 × 3137² floats (79 MB per
 * image): keep batches small. Same input contract and preprocessing as the others.
 */
export const VIT_SLOW: VitSpec = { ...BASE, imageSize: 224, patchSize: 4, hiddenSize: 128, numLayers: 12, numHeads: 2, intermediateSize: 512, numLabels: 10 };

/**
 * Weight scales, chosen so random weights behave like a trained model's in the ways the server
 * shows: attention scores with std ≈ 1–3 per row (largest weight ~0.05–0.35: maps neither uniform
 * nor one-hot), image-dependent CLS features, logits std ≈ 3 (top-k without near-ties).
 */
const SCALE = { qk: 1.7, v: 1, out: 1, mlpIn: 1, mlpOut: 1, cls: 0.02, pos: 0.3, bias: 0.02, logits: 3 };

export function vitNumPatches(spec: VitSpec): number {
  return (spec.imageSize / spec.patchSize) ** 2;
}

/**
 * Builds the graph (exposed so callers can add outputs, e.g. attention maps, before saving).
 * `head`: 'classifier' → `logits` (ViTForImageClassification); 'encoder' → `last_hidden_state`
 * [batch_size, tokens, hidden] (the ViTModel a vision-encoder-decoder captioner exports as
 * `encoder_model.onnx`).
 */
export function buildVitGraph(spec: VitSpec, head: 'classifier' | 'encoder' = 'classifier'): OnnxGraphBuilder {
  const { imageSize: size, patchSize: p, numChannels: c, hiddenSize: h, numHeads, intermediateSize: mlp } = spec;
  if (size % p !== 0) throw new Error(`imageSize ${size} is not a multiple of patchSize ${p}`);
  if (h % numHeads !== 0) throw new Error(`hiddenSize ${h} is not a multiple of numHeads ${numHeads}`);
  const headDim = h / numHeads;
  const tokens = vitNumPatches(spec) + 1;
  const rng = new SeededRandom(spec.seed);
  const g = new OnnxGraphBuilder({ graphName: 'main_graph', docString: `random-weight ViT, seed ${spec.seed}` });
  const normal = (name: string, dims: number[], std: number, mean = 0): string =>
    g.initializer(name, 'float32', dims, rng.normalArray(dims.reduce((a, b) => a * b, 1), std, mean));
  const i64 = (name: string, values: number[], dims: number[] = [values.length]): string => g.constant(name, 'int64', dims, values);
  const f32 = (name: string, value: number): string => g.constant(name, 'float32', [], [value]);

  const linear = (x: string, scope: string, param: string, inDim: number, outDim: number, scale: number, output?: string): string => {
    const w = normal(`${param}.weight`, [inDim, outDim], scale / Math.sqrt(inDim));
    const b = normal(`${param}.bias`, [outDim], SCALE.bias);
    const y = g.op('MatMul', [x, w], { name: `${scope}/MatMul` });
    return g.op('Add', [b, y], { name: `${scope}/Add`, output });
  };
  const layerNorm = (x: string, scope: string, param: string, output?: string): string => {
    const gamma = normal(`${param}.weight`, [h], 0.05, 1);
    const beta = normal(`${param}.bias`, [h], SCALE.bias);
    return g.op('LayerNormalization', [x, gamma, beta], {
      name: `${scope}/LayerNormalization`,
      attrs: { axis: -1, epsilon: { float: spec.layerNormEps } },
      output,
    });
  };

  // Embeddings: Conv patches -> [B, N, h]; CLS token expanded to the batch; position embeddings.
  const pixels = g.input('pixel_values', 'float32', ['batch_size', c, size, size]);
  const emb = '/vit/embeddings';
  const convW = g.initializer('vit.embeddings.patch_embeddings.projection.weight', 'float32', [h, c, p, p], patchFilters(rng, h, c, p));
  const convB = normal('vit.embeddings.patch_embeddings.projection.bias', [h], SCALE.bias);
  const conv = g.op('Conv', [pixels, convW, convB], {
    name: `${emb}/patch_embeddings/projection/Conv`,
    attrs: { dilations: [1, 1], group: 1, kernel_shape: [p, p], pads: [0, 0, 0, 0], strides: [p, p] },
  });
  const flat = g.op('Reshape', [conv, i64('const.shape_flatten', [0, 0, -1])], { name: `${emb}/patch_embeddings/Reshape` });
  const patches = g.op('Transpose', [flat], { name: `${emb}/patch_embeddings/Transpose`, attrs: { perm: [0, 2, 1] } });
  const cls = normal('vit.embeddings.cls_token', [1, 1, h], SCALE.cls);
  const shape = g.op('Shape', [pixels], { name: `${emb}/Shape` });
  const batch = g.op('Gather', [shape, i64('const.index_0_1d', [0])], { name: `${emb}/Gather`, attrs: { axis: 0 } });
  const clsShape = g.op('Concat', [batch, i64('const.ones_2', [1, 1])], { name: `${emb}/Concat`, attrs: { axis: 0 } });
  const clsTokens = g.op('Expand', [cls, clsShape], { name: `${emb}/Expand` });
  const seq = g.op('Concat', [clsTokens, patches], { name: `${emb}/Concat_1`, attrs: { axis: 1 } });
  const pos = normal('vit.embeddings.position_embeddings', [1, tokens, h], SCALE.pos);
  let x = g.op('Add', [seq, pos], { name: `${emb}/Add` });

  const splitHeads = i64('const.shape_heads', [0, 0, numHeads, headDim]);
  const mergeHeads = i64('const.shape_merge', [0, 0, h]);
  const sqrtHeadDim = f32('const.sqrt_head_dim', Math.sqrt(headDim));
  for (let i = 0; i < spec.numLayers; i++) {
    const L = `/vit/encoder/layer.${i}`;
    const P = `vit.encoder.layer.${i}`;
    const A = `${L}/attention/attention`;
    const normed = layerNorm(x, `${L}/layernorm_before`, `${P}.layernorm_before`);
    const q = linear(normed, `${A}/query`, `${P}.attention.attention.query`, h, h, SCALE.qk);
    const k = linear(normed, `${A}/key`, `${P}.attention.attention.key`, h, h, SCALE.qk);
    const v = linear(normed, `${A}/value`, `${P}.attention.attention.value`, h, h, SCALE.v);
    const qh = g.op('Transpose', [g.op('Reshape', [q, splitHeads], { name: `${A}/Reshape` })], { name: `${A}/Transpose`, attrs: { perm: [0, 2, 1, 3] } });
    const kh = g.op('Transpose', [g.op('Reshape', [k, splitHeads], { name: `${A}/Reshape_1` })], { name: `${A}/Transpose_1`, attrs: { perm: [0, 2, 3, 1] } });
    const vh = g.op('Transpose', [g.op('Reshape', [v, splitHeads], { name: `${A}/Reshape_2` })], { name: `${A}/Transpose_2`, attrs: { perm: [0, 2, 1, 3] } });
    const scores = g.op('Div', [g.op('MatMul', [qh, kh], { name: `${A}/MatMul` }), sqrtHeadDim], { name: `${A}/Div` });
    const probs = g.op('Softmax', [scores], { name: `${A}/Softmax`, attrs: { axis: -1 } });
    const ctx = g.op('MatMul', [probs, vh], { name: `${A}/MatMul_1` });
    const merged = g.op('Reshape', [g.op('Transpose', [ctx], { name: `${A}/Transpose_3`, attrs: { perm: [0, 2, 1, 3] } }), mergeHeads], { name: `${A}/Reshape_3` });
    const attnOut = linear(merged, `${L}/attention/output/dense`, `${P}.attention.output.dense`, h, h, SCALE.out);
    x = g.op('Add', [attnOut, x], { name: `${L}/Add` });

    const normed2 = layerNorm(x, `${L}/layernorm_after`, `${P}.layernorm_after`);
    const up = linear(normed2, `${L}/intermediate/dense`, `${P}.intermediate.dense`, h, mlp, SCALE.mlpIn);
    const act = `${L}/intermediate/intermediate_act_fn`; // exact GELU: 0.5·x·(1 + erf(x/√2))
    const erf = g.op('Erf', [g.op('Div', [up, f32('const.sqrt2', Math.SQRT2)], { name: `${act}/Div` })], { name: `${act}/Erf` });
    const onePlus = g.op('Add', [erf, f32('const.one', 1)], { name: `${act}/Add` });
    const gelu = g.op('Mul', [g.op('Mul', [up, onePlus], { name: `${act}/Mul` }), f32('const.half', 0.5)], { name: `${act}/Mul_1` });
    const down = linear(gelu, `${L}/output/dense`, `${P}.output.dense`, mlp, h, SCALE.mlpOut);
    x = g.op('Add', [down, x], { name: `${L}/output/Add` });
  }

  if (head === 'encoder') {
    layerNorm(x, '/vit/layernorm', 'vit.layernorm', 'last_hidden_state');
    g.output('last_hidden_state', 'float32', ['batch_size', tokens, h]);
    return g;
  }
  const final = layerNorm(x, '/vit/layernorm', 'vit.layernorm');
  const clsOut = g.op('Gather', [final, i64('const.index_0', [0], [])], { name: '/Gather', attrs: { axis: 1 } });
  linear(clsOut, '/classifier', 'classifier', h, spec.numLabels, SCALE.logits, 'logits');
  g.output('logits', 'float32', ['batch_size', spec.numLabels]);
  return g;
}

/** The serialised ONNX model (weights inline). */
export function buildVitOnnx(spec: VitSpec): Uint8Array {
  return buildVitGraph(spec).toBytes();
}

export function vitLabels(spec: VitSpec): string[] {
  return Array.from({ length: spec.numLabels }, (_, i) => `${spec.labelPrefix ?? 'random class'} ${i}`);
}

/** A real-looking ViT `config.json`, marked `_generated.random_weights` so answers can say so. */
export function vitConfigJson(spec: VitSpec): Record<string, unknown> {
  const labels = vitLabels(spec);
  return {
    _generated: { random_weights: true, seed: spec.seed, generator: 'multimodal-inference-server' },
    architectures: ['ViTForImageClassification'],
    attention_probs_dropout_prob: 0.0,
    encoder_stride: spec.patchSize,
    hidden_act: 'gelu',
    hidden_dropout_prob: 0.0,
    hidden_size: spec.hiddenSize,
    id2label: Object.fromEntries(labels.map((label, i) => [String(i), label])),
    image_size: spec.imageSize,
    initializer_range: 0.02,
    intermediate_size: spec.intermediateSize,
    label2id: Object.fromEntries(labels.map((label, i) => [label, i])),
    layer_norm_eps: spec.layerNormEps,
    model_type: 'vit',
    num_attention_heads: spec.numHeads,
    num_channels: spec.numChannels,
    num_hidden_layers: spec.numLayers,
    patch_size: spec.patchSize,
    qkv_bias: true,
    torch_dtype: 'float32',
    transformers_version: '4.51.3',
  };
}

/**
 * `preprocessor_config.json`: 'current' is the ViTImageProcessor form of google/vit-base-patch16-224;
 * 'legacy' the ViTFeatureExtractor form that Xenova/vit-base-patch16-224 ships (`size` an int,
 * no do_rescale). `imageSize` must match the model's (default 224).
 */
export function vitPreprocessorJson(style: 'current' | 'legacy', imageSize = 224): Record<string, unknown> {
  const half = [0.5, 0.5, 0.5];
  if (style === 'legacy') {
    return { do_normalize: true, do_resize: true, feature_extractor_type: 'ViTFeatureExtractor', image_mean: half, image_std: half, resample: 2, size: imageSize };
  }
  return {
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: half,
    image_processor_type: 'ViTImageProcessor',
    image_std: half,
    resample: 2,
    rescale_factor: 1 / 255,
    size: { height: imageSize, width: imageSize },
  };
}
