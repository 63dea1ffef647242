/**
 * Each layer's attention averaged over its heads, computed in the graph: a ReduceMean node per
 * attention tap. A map over the head mean (the default) then copies out 1/heads of the data —
 * 12 × 197² floats instead of 12 × 12 × 197² per image for a ViT-B/16 rollout — and does
 * 1/heads of the arithmetic on the event loop.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const AXES = '/attention/head_mean_axes';

export interface HeadMeans {
  nodes: onnxProto.onnx.INodeProto[];
  /** Per layer: [batch, tokens, tokens]. */
  outputs: string[];
}

/** The ReduceMean nodes over axis 1 (heads) of each tap, written for the graph's opset. */
export function headMeanNodes(attention: readonly string[], opset: number): HeadMeans {
  // Opset 18 moved ReduceMean's axes from an attribute to an input.
  const axesAsInput = opset >= 18;
  const nodes: onnxProto.onnx.INodeProto[] = axesAsInput
    ? [
        {
          name: AXES,
          opType: 'Constant',
          output: [AXES],
          attribute: [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: { dims: [1], dataType: onnx.TensorProto.DataType.INT64, int64Data: [1] } }],
        },
      ]
    : [];
  const outputs = attention.map((tap) => `${tap}/head_mean`);
  attention.forEach((tap, layer) => {
    nodes.push({
      name: `${tap}/HeadMean`,
      opType: 'ReduceMean',
      input: axesAsInput ? [tap, AXES] : [tap],
      output: [outputs[layer]!],
      attribute: [
        { name: 'keepdims', type: onnx.AttributeProto.AttributeType.INT, i: 0 },
        ...(axesAsInput ? [] : [{ name: 'axes', type: onnx.AttributeProto.AttributeType.INTS, ints: [1] }]),
      ],
    });
  });
  return { nodes, outputs };
}
