/** The soak's command-line options (`npm run soak -- --minutes 1`). */
import path from 'node:path';

export interface SoakOptions {
  minutes: number;
  /** Closed-loop clients, each always one request (or one two-turn chat) in flight. */
  concurrency: number;
  sampleSeconds: number;
  out: string;
}

const USAGE = `npm run soak -- [--minutes N] [--concurrency N] [--sample-seconds N] [--out FILE]
  --minutes N          how long the load runs (default 10)
  --concurrency N      closed-loop clients (default 16: enough to keep every queue busy)
  --sample-seconds N   RSS, event-loop lag and outcome counts every N seconds (default 5)
  --out FILE           the markdown results (default bench/results/soak.md)`;

const DEFAULTS: SoakOptions = {
  minutes: 10,
  concurrency: 16,
  sampleSeconds: 5,
  out: path.join(import.meta.dirname, '..', 'results', 'soak.md'),
};

/** Parses `--name value` and `--name=value`; exits with the usage on anything else. */
export function parseOptions(argv: readonly string[]): SoakOptions {
  const options = { ...DEFAULTS };
  const fail = (message: string): never => {
    console.error(`${message}\n\n${USAGE}`);
    process.exit(2);
  };
  const positive = (name: string, text: string | undefined): number => {
    const value = Number(text);
    return Number.isFinite(value) && value > 0 ? value : fail(`${name} needs a positive number, got '${text}'`);
  };
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split(/=(.*)/s, 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    switch (flag) {
      case '--minutes':
        options.minutes = positive(flag, value());
        break;
      case '--concurrency':
        options.concurrency = Math.round(positive(flag, value()));
        break;
      case '--sample-seconds':
        options.sampleSeconds = positive(flag, value());
        break;
      case '--out':
        options.out = path.resolve(value() ?? fail('--out needs a file'));
        break;
      case '--help':
      case '-h':
        console.log(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown option '${argv[i]}'`);
    }
  }
  return options;
}
