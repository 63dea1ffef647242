/**
 * A ViT-shaped classifier whose attention is one fused `com.microsoft.Attention` op (what ONNX
 * Runtime's transformer optimiser writes): a valid classifier with no Softmax to read.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { OnnxGraphBuilder, SeededRandom } from '../../src/models/generator/index.js';

const SIZE = 224;
const PATCH = 32;
const DIM = 8;

export async function writeFusedAttentionVit(dir: string): Promise<string> {
  const rng = new SeededRandom(3);
  const random = (count: number) => rng.normalArray(count, 0.2, 0);
  const g = new OnnxGraphBuilder({ graphName: 'fused_vit', extraOpsets: { 'com.microsoft': 1 } });
  const pixels = g.input('pixel_values', 'float32', ['batch_size', 3, SIZE, SIZE]);
  const conv = g.op('Conv', [pixels, g.initializer('patch.weight', 'float32', [DIM, 3, PATCH, PATCH], random(DIM * 3 * PATCH * PATCH))], {
    name: '/vit/embeddings/Conv',
    attrs: { kernel_shape: [PATCH, PATCH], strides: [PATCH, PATCH] },
  });
  const flat = g.op('Reshape', [conv, g.constant('shape_flatten', 'int64', [3], [0, 0, -1])], { name: '/vit/embeddings/Reshape' });
  const x = g.op('Transpose', [flat], { name: '/vit/embeddings/Transpose', attrs: { perm: [0, 2, 1] } });
  const [attended] = g.node(
    'Attention',
    [x, g.initializer('qkv.weight', 'float32', [DIM, 3 * DIM], random(DIM * 3 * DIM)), g.initializer('qkv.bias', 'float32', [3 * DIM], random(3 * DIM))],
    { name: '/vit/encoder/layer.0/attention/Attention', domain: 'com.microsoft', attrs: { num_heads: 2 } },
  );
  const pooled = g.op('ReduceMean', [attended!], { name: '/vit/pool/ReduceMean', attrs: { axes: [1], keepdims: 0 } });
  g.op('MatMul', [pooled, g.initializer('classifier.weight', 'float32', [DIM, 3], random(DIM * 3))], { name: '/classifier/MatMul', output: 'logits' });
  g.output('logits', 'float32', ['batch_size', 3]);
  await mkdir(path.join(dir, 'onnx'), { recursive: true });
  await writeFile(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'vit', id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
  const half = [0.5, 0.5, 0.5];
  await writeFile(
    path.join(dir, 'preprocessor_config.json'),
    JSON.stringify({ do_resize: true, size: { height: SIZE, width: SIZE }, resample: 2, do_rescale: true, do_normalize: true, image_mean: half, image_std: half }),
  );
  await g.save(path.join(dir, 'onnx', 'model.onnx'));
  return dir;
}
