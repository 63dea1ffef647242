/**
 * Worker-thread entry: owns the onnxruntime sessions of one model instance (one per component),
 * runs one batch at a time on the session it names.
 * `session.run()` blocks the thread it runs on, so it must never run on the main thread.
 */
import { parentPort, workerData } from 'node:worker_threads';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { hoistEncoderProjectionsOfFile } from '../onnx/hoist-encoder-projections.js';
import { readModelWithAdditions } from '../onnx/model-with-additions.js';
import { nameThread, THREAD_NAMES } from '../../thread-name.js';
import { getFloat16 } from '@petamoriken/float16';
import { providerAttempts, type ExecutionProvider } from './execution-providers.js';
import { transferablesOf, type NamedTensors, type TensorData, type TensorType } from './tensor.js';
import { DecoderCaches, lastPosition } from './decoder-caches.js';
import { PROJECTIONS_SESSION_SUFFIX, type CacheStep, type PoolToWorker, type ProviderFailure, type SessionWorkerOptions, type ValueInfo, type WorkerToPool } from './worker-protocol.js';

const options = workerData as SessionWorkerOptions;
const port = parentPort;
if (!port) throw new Error('session-worker must run in a worker thread');
// Before the sessions exist, so that onnxruntime's intra-op threads inherit the name.
nameThread(THREAD_NAMES.inference);

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

type Sessions = Record<string, ort.InferenceSession>;

async function releaseAll(sessions: Sessions): Promise<void> {
  await Promise.all(Object.values(sessions).map((session) => session.release().catch(() => {})));
}

/** What each session is created from: its file, or bytes (a graph edited at load) read beside it. */
type SessionSource =
  | { file: string }
  | {
      bytes: Uint8Array;
      dir: string;
      /** A decoder split at load: the file to load whole if onnxruntime refuses the split graph. */
      whole?: string;
      /** Projections split from this session: loaded only if it loaded split. */
      splitFrom?: string;
    };

/** The sessions to create, after the edits the options ask for, and notes on what was changed. */
async function sessionSources(): Promise<{ sources: Record<string, SessionSource>; notes: string[] }> {
  const sources: Record<string, SessionSource> = {};
  const notes: string[] = [];
  for (const [name, modelPath] of Object.entries(options.sessions)) {
    const dir = path.dirname(modelPath);
    const additions = options.graphAdditions?.[name];
    const encoderInput = options.hoistEncoderProjections?.[name];
    if (additions && (additions.outputs.length > 0 || (additions.nodes?.length ?? 0) > 0)) {
      sources[name] = { bytes: await readModelWithAdditions(modelPath, additions), dir };
    } else if (encoderInput) {
      const split = await hoistEncoderProjectionsOfFile(modelPath, encoderInput).catch((error: Error) => error);
      if (split instanceof Error || !split) {
        notes.push(`${name}: encoder projections left in every step (${split ? split.message : 'none depends on the encoder output alone'})`);
        sources[name] = { file: modelPath };
      } else {
        notes.push(`${name}: ${split.names.length} encoder projections computed once per group of rows, not at every step`);
        sources[name] = { bytes: split.decoder, dir, whole: modelPath };
        sources[`${name}${PROJECTIONS_SESSION_SUFFIX}`] = { bytes: split.projections, dir, splitFrom: name };
      }
    } else {
      sources[name] = { file: modelPath };
    }
  }
  return { sources, notes };
}

/** Every session on the first provider that loads them all; the failures on the way are reported. */
async function createSessions(): Promise<{ sessions: Sessions; provider: ExecutionProvider; fallbacks: ProviderFailure[]; notes: string[] }> {
  const fallbacks: ProviderFailure[] = [];
  const { sources, notes } = await sessionSources();
  for (const provider of providerAttempts(options.providers, options.requireProvider)) {
    const sessions: Sessions = {};
    const loadedWhole = new Set<string>();
    try {
      for (const [name, source] of Object.entries(sources)) {
        if ('splitFrom' in source && source.splitFrom && loadedWhole.has(source.splitFrom)) continue;
        const sessionOptions = {
          executionProviders: [provider],
          intraOpNumThreads: options.intraOpThreads,
          interOpNumThreads: 1,
          executionMode: 'sequential' as const,
          graphOptimizationLevel: 'all' as const,
          extra: { session: { intra_op: { allow_spinning: options.allowSpinning ? '1' : '0' } } },
        };
        if ('bytes' in source) {
          // From bytes, external weights (model.onnx_data) are found relative to this folder.
          const extra = { session: { ...sessionOptions.extra.session, model_external_initializers_file_folder_path: source.dir } };
          const created = await ort.InferenceSession.create(source.bytes, { ...sessionOptions, extra }).catch((error: Error) => error);
          if (!(created instanceof Error)) sessions[name] = created;
          else if (!source.whole) throw created;
          else {
            // A split graph onnxruntime refuses: the decoder as exported serves, if slower.
            notes.push(`${name}: the split decoder did not load (${created.message}); loaded whole`);
            sessions[name] = await ort.InferenceSession.create(source.whole, sessionOptions);
            loadedWhole.add(name);
          }
        } else {
          sessions[name] = await ort.InferenceSession.create(source.file, sessionOptions);
        }
      }
      return { sessions, provider, fallbacks, notes };
    } catch (error) {
      await releaseAll(sessions);
      fallbacks.push({ provider, message: error instanceof Error ? error.message : String(error) });
    }
  }
  const tried = fallbacks.map((f) => `${f.provider}: ${f.message}`).join('; ');
  const files = Object.values(options.sessions).join(', ');
  throw Object.assign(new Error(`no execution provider could load ${files} (${tried})`), { fallbacks });
}

function toOrtFeeds(feeds: NamedTensors): Record<string, ort.Tensor> {
  const result: Record<string, ort.Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) {
    result[name] = new ort.Tensor(tensor.type, tensor.data as never, tensor.dims);
  }
  return result;
}

/**
 * Outputs leave the worker as float32 when the graph computed them in float16 (an fp16 variant's
 * attention taps, a decoder's logits), the way transformers.js reads them (`.to('float32')`):
 * the pipelines then handle one float type.
 */
function fromOrtOutputs(outputs: ort.InferenceSession.OnnxValueMapType): NamedTensors {
  const result: NamedTensors = {};
  for (const [name, value] of Object.entries(outputs)) {
    const tensor = value as ort.Tensor;
    result[name] =
      tensor.type === 'float16'
        ? { type: 'float32', dims: [...tensor.dims], data: float16ToFloat32(tensor.data as Uint16Array) }
        : { type: tensor.type as TensorType, dims: [...tensor.dims], data: tensor.data as TensorData };
  }
  return result;
}

function float16ToFloat32(half: Uint16Array): Float32Array {
  const view = new DataView(half.buffer, half.byteOffset, half.byteLength);
  return Float32Array.from({ length: half.length }, (_, i) => getFloat16(view, i * 2, true));
}

const caches = new DecoderCaches();

/** A decoder step: pasts from the worker's cache, presents kept there, only the asked outputs returned. */
async function runStep(sessions: Sessions, name: string, inputs: ValueInfo[], feeds: NamedTensors, outputNames: string[], step: CacheStep): Promise<Record<string, ort.Tensor>> {
  // The rows of this step (empty pasts at the start need it): the token ids' (or embeddings') first axis.
  const batch = (feeds.input_ids ?? feeds.inputs_embeds ?? Object.values(feeds)[0])?.dims[0] ?? 1;
  // Presents this session gives (a with-past decoder gives no cross-attention ones).
  const presents = Object.values(step.pastToPresent).filter((present) => sessions[name]!.outputNames.includes(present));
  const stepFeeds = { ...(await embedded(sessions, step, toOrtFeeds(feeds))), ...caches.pasts(step, inputs, batch) };
  const precomputed = step.start && step.precompute ? await precompute(sessions, step.precompute, stepFeeds) : {};
  const outputs = (await sessions[name]!.run({ ...stepFeeds, ...precomputed }, [...outputNames, ...presents])) as Record<string, ort.Tensor>;
  caches.keep(step, stepFeeds, outputs, precomputed);
  return Object.fromEntries(outputNames.map((name) => [name, step.lastPositionOf?.includes(name) ? lastPosition(outputs[name]!) : outputs[name]!]));
}

/** The feeds with `step.embed`'s input replaced by its embedding (computed here: it never crosses threads). */
async function embedded(sessions: Sessions, step: CacheStep, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  if (!step.embed) return feeds;
  const { session: name, input, output } = step.embed;
  const session = sessions[name];
  if (!session) throw new Error(`no session '${name}' in this worker to embed with`);
  const { [input]: ids, ...rest } = feeds;
  if (!ids) throw new Error(`the step has no '${input}' to embed`);
  const result = await session.run({ [session.inputNames[0]!]: ids }, [output]);
  return { ...rest, [output]: result[output] as ort.Tensor };
}

/** A precomputing session's outputs from the step's feeds (it takes some of them). */
async function precompute(sessions: Sessions, name: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = sessions[name];
  if (!session) throw new Error(`no session '${name}' in this worker to precompute from`);
  return (await session.run(Object.fromEntries(session.inputNames.map((input) => [input, feeds[input]!])))) as Record<string, ort.Tensor>;
}

async function main(): Promise<void> {
  let loaded: Awaited<ReturnType<typeof createSessions>>;
  try {
    loaded = await createSessions();
  } catch (error) {
    const fallbacks = (error as { fallbacks?: ProviderFailure[] }).fallbacks ?? [];
    post({ kind: 'load_failed', message: error instanceof Error ? error.message : String(error), fallbacks });
    return;
  }
  const { sessions, provider, fallbacks, notes } = loaded;
  const info = Object.fromEntries(
    Object.entries(sessions).map(([name, session]) => [name, { inputs: describe(session.inputMetadata), outputs: describe(session.outputMetadata) }]),
  );
  post({ kind: 'ready', provider, fallbacks, sessions: info, notes });

  port!.on('message', async (message: PoolToWorker) => {
    if (message.kind === 'crash') process.exit(70);
    if (message.kind === 'close') {
      await releaseAll(sessions);
      port!.close();
      return;
    }
    if (message.kind === 'release_cache') return caches.release(message.cacheId);
    try {
      const session = sessions[message.session];
      if (!session) throw new Error(`no session '${message.session}' in this worker (it has ${Object.keys(sessions).join(', ')})`);
      const { cache } = message;
      const raw = cache ? await runStep(sessions, message.session, info[message.session]!.inputs, message.feeds, message.outputNames, cache) : await session.run(toOrtFeeds(message.feeds), message.outputNames);
      const outputs = fromOrtOutputs(raw);
      const cacheBytes = cache && { cacheBytes: caches.bytes(cache.id) };
      post({ kind: 'result', id: message.id, outputs, feeds: message.feeds, ...cacheBytes }, [...transferablesOf(outputs), ...transferablesOf(message.feeds)]);
    } catch (error) {
      post({ kind: 'run_failed', id: message.id, message: error instanceof Error ? error.message : String(error) });
    }
  });
}

void main();
