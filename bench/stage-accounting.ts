/**
 * Where the server's CPU goes per image, beyond the model. Two measurements of one load:
 *   - per-thread CPU (exact, /proc schedstat) of the server and of the load generator during an
 *     unprofiled row, grouped by thread role;
 *   - a second, profiled server (`node --cpu-prof`, every thread) under the same load, whose
 *     samples split each JS thread's CPU into stages (HTTP parsing, multipart, JSON, ...).
 * The stage table multiplies the first by the shares of the second. The server's extra CPU per
 * image is everything but the session run; the bare session's CPU per image is set beside it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { monotonicUs, profileStages, SESSION_RUN_STAGE, type ProfiledThread } from './cpu-profile-stages.js';
import type { ChildServer, ChildOptions } from './processes.js';
import { cpuByRole, snapshotThreads, THREAD_ROLE_LABEL, type ThreadRole } from './thread-cpu.js';

export interface RowCpu {
  images: number;
  /** Server CPU milliseconds per image, per thread role. */
  server: Record<ThreadRole, number>;
  /** The load generator's (this process's) CPU milliseconds per image. */
  loadGenerator: number;
}

/** Runs `load` (which returns the images it got answered) and measures the CPU of both processes. */
export async function measureRowCpu<T extends { images: number }>(serverPid: number, load: () => Promise<T>): Promise<{ result: T; cpu: RowCpu }> {
  const [serverBefore, selfBefore] = await Promise.all([snapshotThreads(serverPid), snapshotThreads(process.pid)]);
  const result = await load();
  const [serverAfter, selfAfter] = await Promise.all([snapshotThreads(serverPid), snapshotThreads(process.pid)]);
  const perImage = (ms: number) => ms / Math.max(1, result.images);
  const server = cpuByRole(serverBefore, serverAfter, serverPid);
  const self = cpuByRole(selfBefore, selfAfter, process.pid);
  return {
    result,
    cpu: {
      images: result.images,
      server: Object.fromEntries(Object.entries(server).map(([role, ms]) => [role, perImage(ms)])) as Record<ThreadRole, number>,
      loadGenerator: perImage(Object.values(self).reduce((a, b) => a + b, 0)),
    },
  };
}

export interface ProfiledLoad {
  images: number;
  /** Sampled milliseconds per stage, per kind of JS thread, within the load's window. */
  stages: Record<ProfiledThread, Record<string, number>>;
}

/** Starts a profiled server, runs `load` against it, stops it and reads every thread's profile. */
export async function profileLoad(
  start: (options: ChildOptions) => Promise<ChildServer>,
  load: () => Promise<{ images: number }>,
  /** Run before the measured window, so that the profile sees warm (compiled) code. */
  warmUp: () => Promise<unknown>,
): Promise<ProfiledLoad> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'mms-cpu-prof-'));
  try {
    const server = await start({ nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`] });
    let window: { fromUs: number; toUs: number };
    let images: number;
    try {
      await warmUp();
      const fromUs = monotonicUs();
      ({ images } = await load());
      window = { fromUs, toUs: monotonicUs() };
    } finally {
      await server.stop(); // profiles are written as the threads exit
    }
    const stages = await profileStages(dir, window);
    return { images, stages: Object.fromEntries(Object.entries(stages).map(([thread, map]) => [thread, Object.fromEntries(map)])) as ProfiledLoad['stages'] };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export interface StageRow {
  role: ThreadRole | 'load-generator';
  stage: string;
  cpuMsPerImage: number;
}

export interface StageTable {
  rows: StageRow[];
  serverMsPerImage: number;
  /** The session run's share of the inference threads (onnxruntime, spinning included). */
  sessionRunMsPerImage: number;
  /** The bare session's whole process per image, same layout and batch size. */
  bareMsPerImage: number;
  /**
   * What the server spends per image beyond the model: every thread's CPU but the session run.
   * (Server minus bare would be the same plus the run's difference, but with onnxruntime's
   * threads spinning on a saturated machine a run's CPU follows wall time, so that difference is
   * mostly the machine's drift between the two measurements; it is shown beside, not used.)
   */
  extraMsPerImage: number;
  loadGeneratorMsPerImage: number;
}

const SESSION_RUN = 'session run (all onnxruntime threads)';

const share = (stages: Record<string, number>) => {
  const total = Object.values(stages).reduce((a, b) => a + b, 0);
  return Object.entries(stages)
    .filter(([, ms]) => ms > 0)
    .sort((a, b) => b[1] - a[1])
    .map(([stage, ms]) => ({ stage, fraction: total > 0 ? ms / total : 0 }));
};

/**
 * The table: each role's measured CPU per image; the main and preprocessing threads split by
 * their profile's shares; the inference threads' JS work other than the run itself from its
 * samples per image (onnxruntime's own threads are not in the profile), the rest the session run.
 */
export function stageTable(cpu: RowCpu, profiled: ProfiledLoad, bareMsPerImage: number): StageTable {
  const rows: StageRow[] = [];
  for (const role of ['main', 'preprocessing'] as const) {
    for (const { stage, fraction } of share(profiled.stages[role])) rows.push({ role, stage, cpuMsPerImage: cpu.server[role] * fraction });
  }
  const inferenceJs = Object.entries(profiled.stages.inference).filter(([stage]) => stage !== SESSION_RUN_STAGE);
  let inferenceRest = cpu.server.inference;
  for (const [stage, ms] of inferenceJs) {
    const perImage = Math.min(inferenceRest, ms / Math.max(1, profiled.images));
    rows.push({ role: 'inference', stage, cpuMsPerImage: perImage });
    inferenceRest -= perImage;
  }
  rows.push({ role: 'inference', stage: SESSION_RUN, cpuMsPerImage: inferenceRest });
  for (const role of ['libvips', 'node-helpers', 'other'] as const) {
    if (cpu.server[role] > 0) rows.push({ role, stage: THREAD_ROLE_LABEL[role], cpuMsPerImage: cpu.server[role] });
  }
  const serverMsPerImage = Object.values(cpu.server).reduce((a, b) => a + b, 0);
  rows.push({ role: 'load-generator', stage: 'load generator (the bench process, not the server)', cpuMsPerImage: cpu.loadGenerator });
  return {
    rows,
    serverMsPerImage,
    sessionRunMsPerImage: inferenceRest,
    bareMsPerImage,
    extraMsPerImage: serverMsPerImage - inferenceRest,
    loadGeneratorMsPerImage: cpu.loadGenerator,
  };
}

const ROLE_TITLE: Record<StageRow['role'], string> = { ...THREAD_ROLE_LABEL, 'load-generator': 'load generator' };

/** The stage table as markdown: per role, its total and its stages. */
export function stageMarkdown(table: StageTable, roleCpu: RowCpu): string {
  const f = (ms: number) => ms.toFixed(ms < 10 ? 2 : 1);
  const lines = ['| thread group | stage | CPU-ms per image |', '|---|---|---|'];
  for (const role of ['main', 'preprocessing', 'inference', 'libvips', 'node-helpers', 'other'] as const) {
    const stages = table.rows.filter((r) => r.role === role);
    if (stages.length === 0) continue;
    lines.push(`| **${ROLE_TITLE[role]}** | all | **${f(roleCpu.server[role])}** |`);
    if (stages.length > 1 || stages[0]!.stage !== ROLE_TITLE[role]) for (const row of stages) lines.push(`| | ${row.stage} | ${f(row.cpuMsPerImage)} |`);
  }
  lines.push(`| **server, all threads** | | **${f(table.serverMsPerImage)}** |`);
  lines.push(`| **server's extra CPU per image** | all but the session run | **${f(table.extraMsPerImage)}** |`);
  // CPU-ms grow when the shared machine is slow; this ratio does much less.
  lines.push(`| extra ÷ session run | | ${(table.extraMsPerImage / table.sessionRunMsPerImage).toFixed(3)} |`);
  lines.push(`| session run in the server | spinning included | ${f(table.sessionRunMsPerImage)} |`);
  lines.push(`| bare session, whole process (same layout and batch) | spinning included | ${f(table.bareMsPerImage)} |`);
  lines.push(`| load generator (bench process) | not the server, same cores | ${f(table.loadGeneratorMsPerImage)} |`);
  return lines.join('\n');
}
