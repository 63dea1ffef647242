/**
 * Download progress for `pull`: cli-progress bars on a terminal, plain lines otherwise (logs, CI),
 * e.g. `pull org/name onnx/model.onnx: 45% (12.3/27.4 MB)`, at most one line per 10% or per few seconds.
 */
import cliProgress from 'cli-progress';

export interface FileProgress {
  repo: string;
  path: string;
  /** Bytes of the file on disk so far (resumed bytes included). */
  downloaded: number;
  total: number | undefined;
}

export interface ProgressReporter {
  /** Bytes of a file arrived. */
  update(progress: FileProgress): void;
  /** The file is in the cache: fetched now (`bytesDownloaded` > 0), or found there already. */
  fileDone(file: { repo: string; path: string; total: number | undefined; bytesDownloaded: number }): void;
  /** A message (a warning, a skipped file) shown without breaking the bars. */
  log(message: string): void;
  /** Ends the output; call once, after the last file. */
  stop(): void;
}

export interface ProgressOptions {
  /** Plain mode: the longest silence while bytes keep arriving (default 5 s). */
  intervalMs?: number;
  /** Plain mode: the step between lines in percent (default 10). */
  stepPercent?: number;
  now?: () => number;
}

/** A bar on a TTY, else plain lines on `stream`. */
export function createProgressReporter(stream: NodeJS.WriteStream, options: ProgressOptions = {}): ProgressReporter {
  return stream.isTTY ? new BarReporter(stream) : new LineReporter(stream, options);
}

/** A reporter that prints nothing (tests, --quiet). */
export const silentProgress: ProgressReporter = {
  update: () => undefined,
  fileDone: () => undefined,
  log: () => undefined,
  stop: () => undefined,
};

/** `12.3/27.4 MB`: both numbers in the unit of the total. */
export function formatAmount(downloaded: number, total: number | undefined): string {
  const ref = total ?? downloaded;
  const [div, unit] = ref >= 1e9 ? [1e9, 'GB'] : ref >= 1e6 ? [1e6, 'MB'] : ref >= 1e3 ? [1e3, 'kB'] : [1, 'B'];
  const fmt = (n: number): string => (div === 1 ? String(n) : (n / div).toFixed(div === 1e9 ? 2 : 1));
  return total === undefined ? `${fmt(downloaded)} ${unit}` : `${fmt(downloaded)}/${fmt(total)} ${unit}`;
}

/** `12.3 MB`: one size, in the unit that fits it. */
export function formatBytes(n: number): string {
  return formatAmount(n, undefined);
}

function percent(downloaded: number, total: number | undefined): number | undefined {
  if (total === undefined) return undefined;
  return total === 0 ? 100 : Math.floor((downloaded / total) * 100);
}

interface LineState {
  downloaded: number;
  lastPercent: number;
  lastTime: number;
  lastBytes: number;
}

class LineReporter implements ProgressReporter {
  private readonly files = new Map<string, LineState>();
  private readonly intervalMs: number;
  private readonly step: number;
  private readonly now: () => number;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    options: ProgressOptions,
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.step = options.stepPercent ?? 10;
    this.now = options.now ?? Date.now;
  }

  update(p: FileProgress): void {
    const key = `${p.repo}\0${p.path}`;
    const pct = percent(p.downloaded, p.total);
    const state = this.files.get(key);
    if (!state) {
      this.files.set(key, { downloaded: p.downloaded, lastPercent: pct ?? 0, lastTime: this.now(), lastBytes: p.downloaded });
      if (p.downloaded > 0) this.line(p, `resuming at ${pct !== undefined ? `${pct}% ` : ''}(${formatAmount(p.downloaded, p.total)})`);
      return;
    }
    state.downloaded = p.downloaded;
    const now = this.now();
    const stepped = pct !== undefined && pct < 100 && pct >= state.lastPercent + this.step;
    const slow = now - state.lastTime >= this.intervalMs && p.downloaded > state.lastBytes;
    if (!stepped && !slow) return;
    state.lastPercent = pct !== undefined ? pct - (pct % this.step) : 0;
    state.lastTime = now;
    state.lastBytes = p.downloaded;
    this.line(p, pct !== undefined ? `${pct}% (${formatAmount(p.downloaded, p.total)})` : formatAmount(p.downloaded, undefined));
  }

  fileDone(f: { repo: string; path: string; total: number | undefined; bytesDownloaded: number }): void {
    const key = `${f.repo}\0${f.path}`;
    const state = this.files.get(key);
    this.files.delete(key);
    if (!state && f.bytesDownloaded === 0) {
      this.line(f, 'already in the cache');
      return;
    }
    const size = f.total ?? state?.downloaded ?? f.bytesDownloaded;
    this.line(f, `100% (${formatAmount(size, size)})`);
  }

  log(message: string): void {
    this.stream.write(`${message}\n`);
  }

  stop(): void {
    this.files.clear();
  }

  private line(f: { repo: string; path: string }, text: string): void {
    this.stream.write(`pull ${f.repo} ${f.path}: ${text}\n`);
  }
}

/** One cli-progress bar per file (pullFiles downloads one file at a time); finished bars stay on screen. */
class BarReporter implements ProgressReporter {
  private current: { key: string; bar: cliProgress.SingleBar; downloaded: number } | undefined;

  constructor(private readonly stream: NodeJS.WriteStream) {}

  private payload(p: { repo: string; path: string; downloaded: number; total: number | undefined }): Record<string, string> {
    const pct = percent(p.downloaded, p.total);
    return { repo: p.repo, file: p.path, pct: pct !== undefined ? `${pct}%` : '', amount: `(${formatAmount(p.downloaded, p.total)})` };
  }

  update(p: FileProgress): void {
    const key = `${p.repo}\0${p.path}`;
    // Unknown size: the bar shows half way and the amount tells.
    const total = p.total ?? Math.max(p.downloaded, 1) * 2;
    if (this.current?.key !== key) {
      this.finishCurrent();
      const bar = new cliProgress.SingleBar(
        {
          stream: this.stream,
          format: 'pull {repo} {file} |{bar}| {pct} {amount}',
          hideCursor: true,
          clearOnComplete: false,
          stopOnComplete: false,
          barsize: 25,
        },
        cliProgress.Presets.shades_classic,
      );
      bar.start(total, p.downloaded, this.payload(p));
      this.current = { key, bar, downloaded: p.downloaded };
      return;
    }
    this.current.downloaded = p.downloaded;
    this.current.bar.setTotal(total);
    this.current.bar.update(p.downloaded, this.payload(p));
  }

  fileDone(f: { repo: string; path: string; total: number | undefined; bytesDownloaded: number }): void {
    const key = `${f.repo}\0${f.path}`;
    if (this.current?.key !== key) {
      this.finishCurrent();
      this.stream.write(`pull ${f.repo} ${f.path}: already in the cache\n`);
      return;
    }
    const size = f.total ?? this.current.downloaded;
    this.current.bar.setTotal(size);
    this.current.bar.update(size, this.payload({ ...f, downloaded: size, total: size }));
    this.finishCurrent();
  }

  log(message: string): void {
    // Over the live bar's line; the bar redraws below on its next update.
    this.stream.write(`${this.current ? '\r\x1b[2K' : ''}${message}\n`);
  }

  stop(): void {
    this.finishCurrent();
  }

  private finishCurrent(): void {
    this.current?.bar.stop();
    this.current = undefined;
  }
}
