/**
 * The real server as its own process (`node --import tsx src/server/main.ts`), as an operator
 * runs it: for what a test cannot see in-process (RSS, signals, exit codes). Ports are ephemeral;
 * the helper reads them from the server's JSON log lines, and keeps every log line for asserts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export interface ServerProcess {
  child: ChildProcess;
  httpPort: number;
  grpcPort: number;
  url: string;
  /** Every JSON log line so far. */
  logs: Array<Record<string, unknown>>;
  /** Resolves once every model is ready (polls /readyz). */
  ready(): Promise<void>;
  /** Resident set size now, and its peak (VmHWM), in bytes. */
  memory(): Promise<{ rss: number; peak: number }>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

export async function startServerProcess(args: string[], env: Record<string, string> = {}): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/server/main.ts', '--port', '0', '--grpc-port', '0', '--host', '127.0.0.1', ...args],
    { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const ports = new Promise<{ http: number; grpc: number }>((resolve, reject) => {
    let buffered = '';
    let http: number | undefined;
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        let entry: Record<string, unknown>;
        try {
          entry = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        logs.push(entry);
        if (entry.msg === 'HTTP listening') http = entry.port as number;
        if (entry.msg === 'gRPC listening' && http !== undefined) resolve({ http, grpc: entry.port as number });
      }
    });
    void exited.then(({ code, signal }) => reject(new Error(`server exited (${code ?? signal}) before listening: ${stderr.slice(-2000)}`)));
  });
  const { http, grpc } = await ports;
  const url = `http://127.0.0.1:${http}`;
  return {
    child,
    httpPort: http,
    grpcPort: grpc,
    url,
    logs,
    exited,
    async ready() {
      for (;;) {
        const res = await fetch(`${url}/readyz`).catch(() => undefined);
        if (res?.status === 200) return;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    },
    async memory() {
      const status = await readFile(`/proc/${child.pid}/status`, 'utf8');
      const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
      return { rss: kib('VmRSS'), peak: kib('VmHWM') };
    },
    kill(signal = 'SIGTERM') {
      child.kill(signal);
    },
  };
}
