/**
 * The server the transport fuzzers send to: in-process, every task's tiny generated model, its
 * cache (fitted alignments land there) in a temporary folder; and the small real photo that
 * makes some fuzzed requests valid.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import sharp from 'sharp';
import type { RunningServer } from '../../src/server/server.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

export interface FuzzServer {
  server: RunningServer;
  /** http://127.0.0.1:PORT */
  base: string;
  close(): Promise<void>;
}

export async function startFuzzServer(): Promise<FuzzServer> {
  const cacheDir = await mkdtemp(path.join(os.tmpdir(), 'mms-fuzz-'));
  const server = await startTestServer(await everyTaskModelFlags(), { cacheDir });
  return {
    server,
    base: `http://127.0.0.1:${server.httpPort}`,
    async close() {
      await server.close();
      await rm(cacheDir, { recursive: true, force: true });
    },
  };
}

/** chelsea.png at 32×32: a valid image that costs the models next to nothing. */
export function smallPng(): Promise<Buffer> {
  return sharp(sharedImage('chelsea.png')).resize(32, 32).png().toBuffer();
}

/**
 * Wraps an async predicate so the run that fast-check's time limit abandons can still be awaited:
 * a hang or a failure in that last run must fail the test, not vanish with the interruption.
 */
export function trackingLastRun<Args extends unknown[]>(predicate: (...args: Args) => Promise<void>) {
  let last: Promise<void> = Promise.resolve();
  let lastArgs: Args | undefined;
  return {
    predicate: (...args: Args): Promise<void> => {
      lastArgs = args;
      return (last = predicate(...args));
    },
    async lastRun(): Promise<void> {
      try {
        await last;
      } catch (error) {
        throw new Error(`the run that the time limit cut off failed, on ${fc.stringify(lastArgs).slice(0, 4000)}`, { cause: error });
      }
    },
  };
}
