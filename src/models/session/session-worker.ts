/**
 * Worker-thread entry: owns one onnxruntime session, runs one batch at a time.
 * `session.run()` blocks the thread it runs on, so it must never run on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as ort from 'onnxruntime-node';
import { providerAttempts, type ExecutionProvider } from './execution-providers.js';
import { transferablesOf, type NamedTensors, type TensorData, type TensorType } from './tensor.js';
import type { PoolToWorker, ProviderFailure, SessionWorkerOptions, ValueInfo, WorkerToPool } from './worker-protocol.js';

const options = workerData as SessionWorkerOptions;
const port = parentPort;
if (!port) throw new Error('session-worker must run in a worker thread');

function post(message: WorkerToPool, transfer: ArrayBuffer[] = []): void {
  port!.postMessage(message, transfer);
}

function describe(values: readonly ort.InferenceSession.ValueMetadata[]): ValueInfo[] {
  return values.map((value) =>
    value.isTensor
      ? { name: value.name, type: value.type, shape: [...value.shape] }
      : { name: value.name, type: undefined, shape: [] },
  );
}

async function createSession(): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider; fallbacks: ProviderFailure[] }> {
  const fallbacks: ProviderFailure[] = [];
  for (const provider of providerAttempts(options.providers, options.requireProvider)) {
    try {
      const session = await ort.InferenceSession.create(options.modelPath, {
        executionProviders: [provider],
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
      });
      return { session, provider, fallbacks };
    } catch (error) {
      fallbacks.push({ provider, message: error instanceof Error ? error.message : String(error) });
    }
  }
  const tried = fallbacks.map((f) => `${f.provider}: ${f.message}`).join('; ');
  throw Object.assign(new Error(`no execution provider could load ${options.modelPath} (${tried})`), { fallbacks });
}

function toOrtFeeds(feeds: NamedTensors): Record<string, ort.Tensor> {
  const result: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    result[name] = new ort.Tensor(tensor.type, tensor.data as never, tensor.dims);
  }
  return result;
}

function fromOrtOutputs(outputs: ort.InferenceSession.OnnxValueMapType): NamedTensors {
  const result: NamedTensors = {};
  for (const [name, value] of Object.entries(outputs)) {
    const tensor = value as ort.Tensor;
    result[name] = { type: tensor.type as TensorType, dims: [...tensor.dims], data: tensor.data as TensorData };
  }
  return result;
}

async function main(): Promise<void> {
  let loaded: Awaited<ReturnType<typeof createSession>>;
  try {
    loaded = await createSession();
  } catch (error) {
    const fallbacks = (error as { fallbacks?: ProviderFailure[] }).fallbacks ?? [];
    post({ kind: 'load_failed', message: error instanceof Error ? error.message : String(error), fallbacks });
    return;
  }
  const { session, provider, fallbacks } = loaded;
  post({ kind: 'ready', provider, fallbacks, inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) });

  port!.on('message', async (message: PoolToWorker) => {
    if (message.kind === 'crash') process.exit(70);
    if (message.kind === 'close') {
      await session.release();
      port!.close();
      return;
    }
    try {
      const outputs = fromOrtOutputs(await session.run(toOrtFeeds(message.feeds), message.outputNames));
      post({ kind: 'result', id: message.id, outputs }, transferablesOf(outputs));
    } catch (error) {
      post({ kind: 'run_failed', id: message.id, message: error instanceof Error ? error.message : String(error) });
    }
  });
}

void main();
