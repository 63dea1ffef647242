/**
 * Names the calling OS thread (Linux `comm`, at most 15 bytes), so that `top -H`, `ps -L` and the
 * benchmark's per-thread CPU accounting can tell the server's threads apart. Threads created
 * afterwards from this one (onnxruntime's intra-op pool, for example) inherit the name.
 * Best effort: a no-op where /proc/thread-self does not exist.
 */
import { writeFileSync } from 'node:fs';

/** Thread names the server gives its worker threads. */
export const THREAD_NAMES = {
  inference: 'mms-infer',
  preprocessing: 'mms-preproc',
  alignmentFit: 'mms-fit',
} as const;

export function nameThread(name: string): void {
  try {
    writeFileSync('/proc/thread-self/comm', name.slice(0, 15));
  } catch {
    // not Linux, or /proc not mounted: names are a convenience
  }
}
