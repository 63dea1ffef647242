/** Starting the servers under test as child processes, and waiting for them. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.once('error', reject);
  });
}

export interface ChildServer {
  process: ChildProcess;
  stop(): Promise<void>;
}

export interface ChildOptions {
  timeoutMs?: number;
  /** Node flags before the script, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /** Variables added to this process's environment. */
  env?: Record<string, string>;
}

/**
 * This server (src/server/main.ts) serving `modelDir` as model `id` on free local ports, once
 * ready; `base` is its HTTP address.
 */
export async function startServer(
  id: string,
  modelDir: string,
  extraArgs: string[] = [],
  options: ChildOptions = {},
): Promise<{ base: string; server: ChildServer }> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const args = ['--model-dir', `${id}=${modelDir}`, '--port', String(port), '--grpc-port', String(await freePort()), '--host', '127.0.0.1', ...extraArgs];
  return { base, server: await startChild('src/server/main.ts', args, `${base}/readyz`, options) };
}

/** Spawns `tsx <script> ...args` and resolves once `readyUrl` answers 200. */
export async function startChild(script: string, args: string[], readyUrl: string, options: ChildOptions = {}): Promise<ChildServer> {
  const { timeoutMs = 180_000, nodeArgs = [], env = {} } = options;
  const child = spawn(process.execPath, [...nodeArgs, '--import', 'tsx', script, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
  });
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr = (stderr + chunk).slice(-4000)));
  const exited = new Promise<never>((_, reject) =>
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before it was ready:\n${stderr}`))),
  );
  const deadline = Date.now() + timeoutMs;
  const ready = (async () => {
    while (Date.now() < deadline) {
      try {
        if ((await fetch(readyUrl)).ok) return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    throw new Error(`${script} not ready after ${timeoutMs} ms:\n${stderr}`);
  })();
  try {
    await Promise.race([ready, exited]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  exited.catch(() => {});
  return {
    process: child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
      }),
  };
}
