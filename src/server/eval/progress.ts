/**
 * Progress of a counted job on stderr: a cli-progress bar on a terminal, else a plain line at
 * every 10% (logs and CI get a few lines, not a redraw per chunk).
 */
import cliProgress from 'cli-progress';

export interface CountProgress {
  increment(by: number): void;
  stop(): void;
}

export function countProgress(stream: NodeJS.WriteStream, title: string, total: number): CountProgress {
  if (stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${title} |{bar}| {value}/{total} {percentage}% eta {eta_formatted}`,
        hideCursor: true,
        clearOnComplete: false,
        barsize: 30,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0);
    return { increment: (by) => bar.increment(by), stop: () => bar.stop() };
  }
  let done = 0;
  let lastStep = 0;
  return {
    increment(by) {
      done += by;
      const step = Math.floor((done / total) * 10);
      if (step > lastStep || done >= total) {
        lastStep = step;
        stream.write(`${title}: ${done}/${total}\n`);
      }
    },
    stop: () => undefined,
  };
}
