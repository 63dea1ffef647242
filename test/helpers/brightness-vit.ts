/**
 * A one-layer ViT whose CLS token attends to bright patches, for geometry tests: with random
 * weights a map can land anywhere, so "the map is where the bright square is" needs a model that
 * looks at brightness. No layer norm; each token's key is its patch's mean (normalised)
 * brightness, every query is the same constant, so CLS→patch attention ∝ exp(gain · brightness).
 * Same contract and node naming as an exported ViT (`pixel_values` → `logits`, one Softmax in
 * `/vit/encoder/layer.0/`). `processor` picks ViT's square resize or CLIP's shortest edge + crop.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OnnxGraphBuilder } from '../../src/models/generator/index.js';

const SIZE = 224;
const PATCH = 16;
const DIM = 4;
const GAIN = 40;

function buildGraph(): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder({ graphName: 'brightness_vit' });
  const A = '/vit/encoder/layer.0/attention/attention';
  const pixels = g.input('pixel_values', 'float32', ['batch_size', 3, SIZE, SIZE]);
  const kernel = new Float32Array(DIM * 3 * PATCH * PATCH);
  kernel.fill(1 / (3 * PATCH * PATCH), 0, 3 * PATCH * PATCH); // channel 0: mean brightness
  const conv = g.op('Conv', [pixels, g.initializer('patch.weight', 'float32', [DIM, 3, PATCH, PATCH], kernel)], {
    name: '/vit/embeddings/patch_embeddings/projection/Conv',
    attrs: { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] },
  });
  const flat = g.op('Reshape', [conv, g.constant('shape_flatten', 'int64', [3], [0, 0, -1])], { name: '/vit/embeddings/Reshape' });
  const patches = g.op('Transpose', [flat], { name: '/vit/embeddings/Transpose', attrs: { perm: [0, 2, 1] } });
  const batch = g.op('Gather', [g.op('Shape', [pixels], { name: '/vit/embeddings/Shape' }), g.constant('index0', 'int64', [1], [0])], {
    name: '/vit/embeddings/Gather',
    attrs: { axis: 0 },
  });
  const clsShape = g.op('Concat', [batch, g.constant('ones', 'int64', [2], [1, DIM])], { name: '/vit/embeddings/Concat', attrs: { axis: 0 } });
  const cls = g.op('Expand', [g.initializer('cls', 'float32', [1, 1, DIM], new Float32Array(DIM)), clsShape], { name: '/vit/embeddings/Expand' });
  const x = g.op('Concat', [cls, patches], { name: '/vit/embeddings/Concat_1', attrs: { axis: 1 } });

  // q = constant (GAIN on dim 0) for every token; k = x; one head.
  const queryBias = new Float32Array(DIM);
  queryBias[0] = GAIN;
  const q = g.op('Add', [g.op('Mul', [x, g.constant('zero', 'float32', [], [0])], { name: `${A}/query/Mul` }), g.initializer('q.bias', 'float32', [DIM], queryBias)], {
    name: `${A}/query/Add`,
  });
  const axis1 = g.constant('axis1', 'int64', [1], [1]);
  const qh = g.op('Unsqueeze', [q, axis1], { name: `${A}/Unsqueeze` });
  const kh = g.op('Unsqueeze', [g.op('Transpose', [x], { name: `${A}/Transpose`, attrs: { perm: [0, 2, 1] } }), axis1], { name: `${A}/Unsqueeze_1` });
  const probs = g.op('Softmax', [g.op('MatMul', [qh, kh], { name: `${A}/MatMul` })], { name: `${A}/Softmax`, attrs: { axis: -1 } });
  const context = g.op('MatMul', [probs, g.op('Unsqueeze', [x, axis1], { name: `${A}/Unsqueeze_2` })], { name: `${A}/MatMul_1` });
  const merged = g.op('Squeeze', [context, axis1], { name: `${A}/Squeeze` });
  const out = g.op('Add', [x, merged], { name: '/vit/encoder/layer.0/output/Add' });
  const clsOut = g.op('Gather', [out, g.constant('index0_scalar', 'int64', [], [0])], { name: '/Gather', attrs: { axis: 1 } });
  g.op('MatMul', [clsOut, g.initializer('classifier.weight', 'float32', [DIM, 2], new Float32Array([1, -1, 0.5, 0.5, 0, 0, 0, 0]))], {
    name: '/classifier/MatMul',
    output: 'logits',
  });
  g.output('logits', 'float32', ['batch_size', 2]);
  return g;
}

/** Writes the model into `dir` with a ViT (squash to 224²) or CLIP-style (shortest edge + crop) processor. */
export async function writeBrightnessVit(dir: string, processor: 'vit' | 'clip'): Promise<string> {
  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  const half = [0.5, 0.5, 0.5];
  const preprocessor =
    processor === 'vit'
      ? { do_resize: true, size: { height: SIZE, width: SIZE }, resample: 2, do_rescale: true, do_normalize: true, image_mean: half, image_std: half }
      : {
          do_resize: true,
          size: { shortest_edge: SIZE },
          resample: 3,
          do_center_crop: true,
          crop_size: { height: SIZE, width: SIZE },
          do_rescale: true,
          do_normalize: true,
          image_mean: half,
          image_std: half,
        };
  await writeFile(path.join(dir, 'preprocessor_config.json'), JSON.stringify(preprocessor));
  await writeFile(
    path.join(dir, 'config.json'),
    JSON.stringify({ model_type: 'vit', id2label: { 0: 'bright', 1: 'dark' }, num_hidden_layers: 1, patch_size: PATCH }),
  );
  await buildGraph().save(path.join(dir, 'onnx', 'model.onnx'));
  return dir;
}
