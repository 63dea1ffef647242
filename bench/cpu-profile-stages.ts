/**
 * Attributes the samples of V8 CPU profiles (`node --cpu-prof`, one file per thread) to the
 * server's stages, within a time window. A sample goes to the stage of the innermost frame of its
 * stack that a rule knows: generic frames (JSON.stringify, events, streams) take the stage of
 * their caller (the logger's stringify is logging; a route handler that multer's callback called
 * is the route's, not multipart parsing). Idle samples are dropped. V8 stamps samples with the system's monotonic clock in µs,
 * the clock of `process.hrtime`, so the window can be taken in another process.
 */
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';

interface CallFrame {
  functionName: string;
  url: string;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

export type ProfiledThread = 'main' | 'inference' | 'preprocessing' | 'other';

interface StageRule {
  stage: string;
  matches(frame: CallFrame): boolean;
}

const inUrl = (...parts: string[]) => (frame: CallFrame) => parts.some((part) => frame.url.includes(part));
const named = (...names: string[]) => (frame: CallFrame) => names.includes(frame.functionName);

/** The stage of onnxruntime's run itself (the rest of a session worker's samples is JS around it). */
export const SESSION_RUN_STAGE = 'session run';

/** For one frame, the first rule that matches it; a frame no rule matches is generic. */
const RULES: StageRule[] = [
  { stage: 'GC', matches: named('(garbage collector)') },
  { stage: 'logging', matches: inUrl('/pino', '/sonic-boom/', '/thread-stream/', 'src/server/logger') },
  { stage: 'metrics', matches: inUrl('/prom-client/', 'src/server/metrics') },
  { stage: 'multipart parsing', matches: inUrl('/busboy/', '/multer/', '/streamsearch/') },
  { stage: 'answer JSON', matches: (f) => f.url.includes('/express/lib/response') && ['json', 'send', 'stringify'].includes(f.functionName) },
  { stage: 'normalise to CHW', matches: named('toPixelValues', 'valueTable') },
  { stage: 'exact PIL resize (JS)', matches: inUrl('pil-resample') },
  { stage: 'image sniff, header probe, sharp calls', matches: inUrl('image-signature', 'decode-image', 'preprocess-image', '/sharp/') },
  { stage: 'preprocessing hand-off (piscina)', matches: inUrl('/piscina/', 'preprocess-pool', 'preprocess-worker', 'pixel-budget') },
  { stage: 'tensors to and from onnxruntime', matches: (f) => ['toOrtFeeds', 'fromOrtOutputs', 'transferablesOf'].includes(f.functionName) || /onnxruntime-common.*tensor/.test(f.url) },
  // The native run shows as its JS caller in onnxruntime's backend.
  { stage: SESSION_RUN_STAGE, matches: inUrl('/onnxruntime-node/', '/onnxruntime-common/') },
  { stage: 'inference hand-off (worker messages)', matches: inUrl('worker-pool', 'batched-encoder', 'node:internal/worker') },
  { stage: 'batching', matches: inUrl('batcher', 'instance-slots', 'pending-item', 'batch-isolation', 'health-gate') },
  { stage: 'scoring (softmax, top-k, similarity)', matches: inUrl('pipelines/scores', 'zero-shot', 'embedding-cache') },
  { stage: 'validation (zod)', matches: inUrl('/zod/') },
  { stage: 'JSON body, base64 image', matches: inUrl('/body-parser/', '/raw-body/', 'json-guard', 'src/server/schemas') },
  { stage: 'routing, validation glue, access log', matches: inUrl('/express/', '/router/', '/finalhandler/', '/on-finished/', '/type-is/', 'src/server/') },
  { stage: 'HTTP parsing and sockets', matches: inUrl('node:_http', 'node:net', 'node:internal/stream_base', 'node:internal/http') },
  { stage: 'native, unattributed', matches: named('(program)') },
];
const OTHER_STAGE = 'other JS (promises, timers, module code)';
const IDLE = new Set(['(idle)', 'atomicsWaitLoop']);

function classifyThread(profile: CpuProfile, threadId: number): ProfiledThread {
  if (threadId === 0) return 'main';
  const urls = profile.nodes.map((n) => n.callFrame.url);
  if (urls.some((u) => u.includes('session-worker'))) return 'inference';
  if (urls.some((u) => u.includes('preprocess-worker'))) return 'preprocessing';
  return 'other';
}

/** Milliseconds of samples per stage within [fromUs, toUs], for one profile. */
function stagesOf(profile: CpuProfile, fromUs: number, toUs: number): Map<string, number> {
  const parent = new Map<number, ProfileNode>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node);
  const stageOfNode = new Map<number, string | null>();
  const stageOf = (leaf: ProfileNode): string | null => {
    const cached = stageOfNode.get(leaf.id);
    if (cached !== undefined) return cached;
    let stage: string | null = OTHER_STAGE;
    if (IDLE.has(leaf.callFrame.functionName)) stage = null;
    else {
      for (let node: ProfileNode | undefined = leaf; node; node = parent.get(node.id)) {
        const rule = RULES.find((r) => r.matches(node!.callFrame));
        if (rule) {
          stage = rule.stage;
          break;
        }
      }
    }
    stageOfNode.set(leaf.id, stage);
    return stage;
  };
  const totals = new Map<string, number>();
  let t = profile.startTime;
  profile.samples.forEach((id, i) => {
    t += profile.timeDeltas[i] ?? 0;
    if (t < fromUs || t > toUs) return;
    // A sample stands for the interval up to the next one.
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const stage = stageOf(byId.get(id)!);
    if (stage) totals.set(stage, (totals.get(stage) ?? 0) + ms);
  });
  return totals;
}

/** Sampled milliseconds per stage, per kind of thread, over every profile in `dir`. */
export async function profileStages(dir: string, window: { fromUs: number; toUs: number }): Promise<Record<ProfiledThread, Map<string, number>>> {
  const result: Record<ProfiledThread, Map<string, number>> = { main: new Map(), inference: new Map(), preprocessing: new Map(), other: new Map() };
  for (const file of (await readdir(dir)).filter((f) => f.endsWith('.cpuprofile'))) {
    // CPU.<date>.<time>.<pid>.<thread id>.<seq>.cpuprofile
    const threadId = Number(file.split('.')[4]);
    const profile = JSON.parse(await readFile(path.join(dir, file), 'utf8')) as CpuProfile;
    const totals = result[classifyThread(profile, threadId)];
    for (const [stage, ms] of stagesOf(profile, window.fromUs, window.toUs)) totals.set(stage, (totals.get(stage) ?? 0) + ms);
  }
  return result;
}

/** The monotonic clock V8 stamps profile samples with, in µs. */
export const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);
