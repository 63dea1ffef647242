/**
 * The fp16 variant of a generated model, as the real `*_fp16.onnx` exports have it
 * (onnxconverter-common's `convert_float_to_float16` with `keep_io_types`, what transformers.js's
 * conversion script runs): the graph's float32 inputs are Cast to float16 where they enter, every
 * float weight and constant is stored as float16, every Cast to float becomes a Cast to float16,
 * and the float32 outputs are Cast back where they leave. Callers see the fp32 contract; half the
 * bytes on disk. onnxruntime's CPU provider runs it (ops without an fp16 kernel get casts
 * around them at load), the CUDA provider natively.
 *
 *   await toFloat16(buildVitGraph(VIT_TINY)).save('onnx/model_fp16.onnx');
 */
import { setFloat16 } from '@petamoriken/float16';
import onnxProto from 'onnx-proto';
import type { OnnxGraphBuilder } from './onnx-graph-builder.js';

const { onnx } = onnxProto;
const FLOAT = onnx.TensorProto.DataType.FLOAT;
const FLOAT16 = onnx.TensorProto.DataType.FLOAT16;
type TensorProto = onnxProto.onnx.ITensorProto;
type AttributeProto = onnxProto.onnx.IAttributeProto;

/** float32 bytes → float16 bytes (round to nearest even, as numpy's astype does). */
function halfBytes(raw: Uint8Array): Uint8Array {
  const values = new Float32Array(raw.slice().buffer);
  const out = new DataView(new ArrayBuffer(values.length * 2));
  values.forEach((v, i) => setFloat16(out, i * 2, v, true));
  return new Uint8Array(out.buffer);
}

function halfTensor(tensor: TensorProto): TensorProto {
  if (tensor.dataType !== FLOAT) return tensor;
  if (!tensor.rawData) throw new Error(`float tensor ${tensor.name} is not stored as raw bytes`);
  return { ...tensor, dataType: FLOAT16, rawData: halfBytes(tensor.rawData) };
}

/** Cast-to-float becomes Cast-to-float16; float tensors held in attributes (Constant, ConstantOfShape) become float16. */
function halfAttribute(opType: string, attribute: AttributeProto): AttributeProto {
  if (opType === 'Cast' && attribute.name === 'to' && Number(attribute.i) === FLOAT) return { ...attribute, i: FLOAT16 };
  if (attribute.t) return { ...attribute, t: halfTensor(attribute.t) };
  return attribute;
}

const isFloat = (value: onnxProto.onnx.IValueInfoProto) => value.type?.tensorType?.elemType === FLOAT;

export function toFloat16(source: OnnxGraphBuilder): OnnxGraphBuilder {
  const inputs = new Set(source.graphInputs.filter(isFloat).map((v) => v.name!));
  const outputs = new Set(source.graphOutputs.filter(isFloat).map((v) => v.name!));
  const half = (name: string) => `${name}_fp16`;
  let started = false;
  const target = source.rewritten((node, g) => {
    if (!started) {
      started = true;
      for (const name of inputs) g.op('Cast', [name], { name: `${name}_cast_to_fp16`, output: half(name), attrs: { to: FLOAT16 } });
    }
    for (const name of node.input ?? []) {
      const weight = source.initializerOf(name);
      if (weight?.dataType === FLOAT && !g.initializerOf(name)) g.addInitializer(halfTensor(weight));
    }
    g.addNode({
      ...node,
      // A graph output read inside the graph (CLIP's last_hidden_state) is read in float16 too.
      input: (node.input ?? []).map((name) => (inputs.has(name) || outputs.has(name) ? half(name) : name)),
      output: (node.output ?? []).map((name) => (outputs.has(name) ? half(name) : name)),
      attribute: (node.attribute ?? []).map((a) => halfAttribute(node.opType ?? '', a)),
    });
    return true;
  });
  for (const name of outputs) target.op('Cast', [half(name)], { name: `${name}_cast_to_fp32`, output: name, attrs: { to: FLOAT } });
  return target;
}
