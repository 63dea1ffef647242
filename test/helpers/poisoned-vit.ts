/**
 * The tiny ViT, with a graph that throws for one kind of input: an image that is white all over
 * (every normalised pixel 1.0) makes a Gather index run past its data, and onnxruntime fails the
 * whole run ("indices element out of data bounds"); any other image classifies as before. For
 * drills where a real session fails one item of a batch.
 */
import { cp, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import onnxProto from 'onnx-proto';
import { tinyVitDir } from './test-models.js';

const { onnx } = onnxProto;

const floats = (name: string, dims: number[], values: number[]) => ({ name, dataType: onnx.TensorProto.DataType.FLOAT, dims, floatData: values });
const int64s = (name: string, dims: number[], values: number[]) => ({ name, dataType: onnx.TensorProto.DataType.INT64, dims, int64Data: values });

export async function poisonedVitDir(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mms-poisoned-vit-'));
  await cp(await tinyVitDir(), dir, { recursive: true });
  const file = path.join(dir, 'onnx', 'model.onnx');
  const model = onnx.ModelProto.decode(await readFile(file));
  const graph = model.graph!;
  const logits = graph.output![0]!.name!;
  const producer = graph.node!.find((node) => node.output!.includes(logits))!;
  producer.output = producer.output!.map((name) => (name === logits ? 'logits_before_poison' : name));
  graph.initializer!.push(floats('poison_threshold', [], [0.99]), floats('poison_data', [1], [0]), int64s('poison_axes', [1], [1]));
  graph.node!.push(
    // Per image, the smallest pixel: above 0.99 only for an all-white image.
    { opType: 'ReduceMin', input: ['pixel_values'], output: ['poison_min'], attribute: [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1, 2, 3] }, { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
    { opType: 'Greater', input: ['poison_min', 'poison_threshold'], output: ['poison_white'] },
    { opType: 'Cast', input: ['poison_white'], output: ['poison_index'], attribute: [{ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: onnx.TensorProto.DataType.INT64 }] },
    // Index 1 into one element: out of bounds for the white image, 0 for any other.
    { opType: 'Gather', input: ['poison_data', 'poison_index'], output: ['poison_zero'], attribute: [{ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: 0 }] },
    { opType: 'Unsqueeze', input: ['poison_zero', 'poison_axes'], output: ['poison_column'] },
    { opType: 'Add', input: ['logits_before_poison', 'poison_column'], output: [logits] },
  );
  await writeFile(file, onnx.ModelProto.encode(model).finish());
  return dir;
}
