/**
 * Per-thread CPU time of a process from Linux's /proc (schedstat: nanoseconds on a CPU), grouped
 * by the role the thread's name tells (src/thread-name.ts names the server's worker threads;
 * onnxruntime's threads inherit their creator's name). Two snapshots give a window's CPU per role.
 */
import { readdir, readFile } from 'node:fs/promises';
import { THREAD_NAMES } from '../src/thread-name.js';

export type ThreadRole = 'main' | 'inference' | 'preprocessing' | 'libvips' | 'node-helpers' | 'other';

export const THREAD_ROLE_LABEL: Record<ThreadRole, string> = {
  main: 'main thread (HTTP, request bodies, routing, batching, scoring, JSON, logs, metrics)',
  inference: 'inference threads (session run, onnxruntime intra-op pool)',
  preprocessing: 'preprocessing threads (JS: hand-off, normalise to CHW)',
  libvips: 'libvips threads (decode, resize)',
  'node-helpers': "Node's helper threads (libuv pool running sharp, V8 GC and compiler)",
  other: 'other threads',
};

interface ThreadCpu {
  tid: number;
  name: string;
  cpuNs: number;
}

export type CpuSnapshot = Map<number, ThreadCpu>;

/** The CPU time of every live thread of `pid`; threads that exit between reads are skipped. */
export async function snapshotThreads(pid: number): Promise<CpuSnapshot> {
  const snapshot: CpuSnapshot = new Map();
  for (const entry of await readdir(`/proc/${pid}/task`)) {
    try {
      const [name, schedstat] = await Promise.all([
        readFile(`/proc/${pid}/task/${entry}/comm`, 'utf8'),
        readFile(`/proc/${pid}/task/${entry}/schedstat`, 'utf8'),
      ]);
      const tid = Number(entry);
      snapshot.set(tid, { tid, name: name.trim(), cpuNs: Number(schedstat.split(' ')[0]) });
    } catch {
      // the thread exited
    }
  }
  return snapshot;
}

function roleOf(thread: ThreadCpu, pid: number): ThreadRole {
  if (thread.tid === pid) return 'main';
  if (thread.name === THREAD_NAMES.inference) return 'inference';
  if (thread.name === THREAD_NAMES.preprocessing) return 'preprocessing';
  if (thread.name.startsWith('libvips')) return 'libvips';
  if (thread.name === 'node') return 'node-helpers';
  return 'other';
}

/** CPU milliseconds per role between two snapshots (a thread born in between counts from zero). */
export function cpuByRole(before: CpuSnapshot, after: CpuSnapshot, pid: number): Record<ThreadRole, number> {
  const totals: Record<ThreadRole, number> = { main: 0, inference: 0, preprocessing: 0, libvips: 0, 'node-helpers': 0, other: 0 };
  for (const thread of after.values()) {
    totals[roleOf(thread, pid)] += (thread.cpuNs - (before.get(thread.tid)?.cpuNs ?? 0)) / 1e6;
  }
  return totals;
}

/** Total CPU milliseconds of a process between two snapshots. */
export function totalCpuMs(before: CpuSnapshot, after: CpuSnapshot, pid: number): number {
  return Object.values(cpuByRole(before, after, pid)).reduce((a, b) => a + b, 0);
}
