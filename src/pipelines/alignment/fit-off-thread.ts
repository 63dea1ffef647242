/**
 * Fits Procrustes maps in a worker thread (one at a time: fitting is rare and CPU-heavy), so the
 * event loop keeps answering while a 512-dimension SVD runs. The thread starts on the first fit
 * and exits when idle.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import type { FitTask } from './fit-worker.js';
import type { ProcrustesMap } from './procrustes.js';

const fromSources = path.extname(fileURLToPath(import.meta.url)) === '.ts';
const workerFile = fileURLToPath(new URL(fromSources ? './fit-worker-bootstrap.mjs' : './fit-worker.js', import.meta.url));

export class FitPool {
  private readonly piscina = new Piscina({ filename: workerFile, minThreads: 0, maxThreads: 1, idleTimeout: 5_000 });

  fit(task: FitTask): Promise<ProcrustesMap> {
    return this.piscina.run(task) as Promise<ProcrustesMap>;
  }

  close(): Promise<void> {
    return this.piscina.destroy();
  }
}
