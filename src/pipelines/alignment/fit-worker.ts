/**
 * Piscina worker entry: fits a Procrustes map off the event loop (the SVD of a 512×512 matrix
 * takes seconds of CPU). The map's arrays come back transferred.
 */
import { move, transferableSymbol, valueSymbol } from 'piscina';
import { nameThread, THREAD_NAMES } from '../../thread-name.js';
import { fitProcrustes } from './procrustes.js';

nameThread(THREAD_NAMES.alignmentFit);

export interface FitTask {
  x: Float32Array[];
  y: Float32Array[];
}

export default function fitTask(task: FitTask): unknown {
  const map = fitProcrustes(task.x, task.y);
  return move({ [transferableSymbol]: [map.w.buffer, map.muX.buffer, map.muY.buffer], [valueSymbol]: map } as Parameters<typeof move>[0]);
}
