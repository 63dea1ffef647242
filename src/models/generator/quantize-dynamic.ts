/**
 * The q8 variant of a generated model, in the operator pattern of onnxruntime's
 * `quantize_dynamic` (what `onnx/model_quantized.onnx` holds in the Xenova repos): each MatMul by
 * a 2-D float32 weight becomes DynamicQuantizeLinear on the activation (uint8, one scale and
 * zero point per tensor, shared by every MatMul reading it) → MatMulInteger with the weight in
 * int8 (symmetric, one scale per tensor, zero point 0) → Cast to float → Mul by the product of
 * the two scales. onnxruntime fuses the pattern into one DynamicQuantizeMatMul at load.
 *
 *   await quantizeDynamic(buildVitGraph(VIT_TINY)).save('onnx/model_quantized.onnx');
 */
import onnxProto from 'onnx-proto';
import type { OnnxGraphBuilder } from './onnx-graph-builder.js';

const { onnx } = onnxProto;
const INT8_MAX = 127;

/** A float32 initializer's values (its raw bytes copied, so they are aligned). */
function floats(raw: Uint8Array): Float32Array {
  return new Float32Array(raw.slice().buffer);
}

export function quantizeDynamic(source: OnnxGraphBuilder): OnnxGraphBuilder {
  const quantizedInputs = new Map<string, string[]>();
  return source.rewritten((node, g) => {
    const [x, weightName] = node.input ?? [];
    const weight = weightName === undefined ? undefined : source.initializerOf(weightName);
    if (node.opType !== 'MatMul' || !x || !weight?.rawData || weight.dims?.length !== 2 || weight.dataType !== onnx.TensorProto.DataType.FLOAT) {
      return false;
    }
    const values = floats(weight.rawData);
    let largest = 0;
    for (const v of values) largest = Math.max(largest, Math.abs(v));
    const scale = largest > 0 ? largest / INT8_MAX : 1;
    const dims = weight.dims.map(Number);
    const weightQ = g.initializer(`${weightName}_quantized`, 'int8', dims, Int8Array.from(values, (v) => Math.max(-INT8_MAX, Math.min(INT8_MAX, Math.round(v / scale)))));
    const weightScale = g.initializer(`${weightName}_scale`, 'float32', [], [scale]);
    const weightZero = g.initializer(`${weightName}_zero_point`, 'int8', [], [0]);

    let activation = quantizedInputs.get(x);
    if (!activation) {
      activation = g.node('DynamicQuantizeLinear', [x], { name: `${x}_QuantizeLinear`, outputs: [`${x}_quantized`, `${x}_scale`, `${x}_zero_point`] });
      quantizedInputs.set(x, activation);
    }
    const [xQ, xScale, xZero] = activation as [string, string, string];
    const name = node.name ?? weightName;
    const product = g.op('MatMulInteger', [xQ, weightQ, xZero, weightZero], { name: `${name}_quant` });
    const asFloat = g.op('Cast', [product], { name: `${name}_quant_cast`, attrs: { to: onnx.TensorProto.DataType.FLOAT } });
    const scales = g.op('Mul', [xScale, weightScale], { name: `${name}_quant_scales_mul` });
    g.op('Mul', [asFloat, scales], { name: `${name}_quant_output_scale_mul`, output: node.output![0]! });
    return true;
  });
}
