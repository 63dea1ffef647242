/**
 * ONNX contracts: the input/output names, dtypes and shapes a model family needs. The loader
 * depends on these, never on node names or initializer layout, so any exporter's graph works.
 */
import type { TensorType } from './session/tensor.js';
import type { ValueInfo } from './session/worker-protocol.js';

/** A fixed size, or a named dynamic axis (any size accepted). */
export type DimSpec = number | string;

export interface TensorSpec {
  name: string;
  type: TensorType;
  dims: DimSpec[];
}

export interface ModelContract {
  family: string;
  inputs: TensorSpec[];
  outputs: TensorSpec[];
  /** Inputs beyond `inputs` the server also feeds, by name (a decoder's past key/values). */
  otherInputs?: RegExp;
}

export class ContractError extends Error {
  override name = 'ContractError';
}

function formatSpec(spec: TensorSpec): string {
  return `${spec.name} ${spec.type} [${spec.dims.join(', ')}]`;
}

function formatActual(value: ValueInfo): string {
  return `${value.name} ${value.type ?? 'non-tensor'} [${value.shape.join(', ')}]`;
}

function compare(kind: 'input' | 'output', spec: TensorSpec, actual: ValueInfo | undefined, all: ValueInfo[]): string[] {
  if (!actual) {
    return [`${kind} '${spec.name}' is missing (the model has ${kind}s: ${all.map((v) => v.name).join(', ') || 'none'})`];
  }
  const problems: string[] = [];
  if (actual.type !== spec.type) problems.push(`${kind} '${spec.name}' is ${actual.type ?? 'not a tensor'}, expected ${spec.type}`);
  // An empty shape means the exporter recorded none; nothing to check then.
  if (actual.shape.length > 0) {
    if (actual.shape.length !== spec.dims.length) {
      problems.push(`${kind} '${spec.name}' has rank ${actual.shape.length} [${actual.shape.join(', ')}], expected rank ${spec.dims.length} [${spec.dims.join(', ')}]`);
    } else {
      spec.dims.forEach((dim, axis) => {
        const got = actual.shape[axis];
        if (typeof dim === 'number' && typeof got === 'number' && got !== dim) {
          problems.push(`${kind} '${spec.name}' axis ${axis} is ${got}, expected ${dim}`);
        }
      });
    }
  }
  return problems;
}

/** Throws a ContractError naming every mismatch between a loaded session and its family's contract. */
export function checkContract(contract: ModelContract, session: { inputs: ValueInfo[]; outputs: ValueInfo[] }, modelLabel: string): void {
  const problems: string[] = [];
  for (const spec of contract.inputs) {
    problems.push(...compare('input', spec, session.inputs.find((v) => v.name === spec.name), session.inputs));
  }
  for (const spec of contract.outputs) {
    problems.push(...compare('output', spec, session.outputs.find((v) => v.name === spec.name), session.outputs));
  }
  const known = new Set(contract.inputs.map((s) => s.name));
  for (const extra of session.inputs.filter((v) => !known.has(v.name) && !contract.otherInputs?.test(v.name))) {
    problems.push(`input '${extra.name}' is not part of the ${contract.family} contract, so the server cannot feed it`);
  }
  if (problems.length > 0) {
    const expected = contract.inputs.map(formatSpec).join('; ') + ' -> ' + contract.outputs.map(formatSpec).join('; ');
    const actual = session.inputs.map(formatActual).join('; ') + ' -> ' + session.outputs.map(formatActual).join('; ');
    throw new ContractError(
      `${modelLabel} does not match the ${contract.family} ONNX contract: ${problems.join('; ')}. ` +
        `Expected ${expected}; the model has ${actual}.`,
    );
  }
}
