/**
 * The arguments of `npm run eval -- zero-shot ...`. Anything wrong with them is a `UsageError`
 * (exit 2), with a message naming the argument.
 */
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export const USAGE = `Usage: npm run eval -- zero-shot (--model-dir [id=]DIR | --model ID) (--data DIR | --embeddings FILE) [options]

Measures CLIP zero-shot top-1 accuracy for each prompt strategy, before and after fitting a
modality-gap alignment, on the real server started in-process (ephemeral ports, silent logs).

  --model-dir [id=]DIR   a CLIP model folder (Hugging Face ONNX layout)
  --model ID[:VARIANT]   or a catalog model already in the Hugging Face cache
  --data DIR             one subfolder per label, images inside (the folder name is the label)
  --embeddings FILE      or precomputed image embeddings: [{"embedding": [...], "label": "..."}]
  --holdout F            share of each label's examples held out of the alignment fit (default 0.3)
  --seed N               seed of the held-out split (default 0)
  --descriptions FILE    {"label": ["text", ...]} for the descriptive strategy (skipped without it)
  --out FILE             the PCA plot, PNG (default zero-shot-eval.png)
  --cache-dir DIR        where the server keeps the fitted alignments (eval-<strategy>); default a
                         temporary folder removed at the end
  --spot-check N         held-out images re-scored through /v1/zero-shot per strategy, to check the
                         client-side scoring against the server (default 8, 0 = off; images only)
  -h, --help             this text

Prints a table (stdout) of accuracy on all examples, on the held-out split, on the held-out
split with the alignment, and the gap (held-out image centroid to label-text centroid) before
and after; writes a 2-D PCA plot of image and label-text embeddings before and after alignment.
Exit codes: 0 done, 1 failed, 2 bad arguments.`;

export interface EvalArgs {
  command: 'zero-shot';
  /** Exactly one of the two. */
  modelDir?: string;
  model?: string;
  data?: string;
  embeddings?: string;
  holdout: number;
  seed: number;
  descriptions?: string;
  out: string;
  cacheDir?: string;
  spotCheck: number;
}

export type ParsedArgs = { help: true } | ({ help: false } & EvalArgs);

function number(value: string | undefined, flag: string, fallback: number, check: (n: number) => boolean, what: string): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || !check(n)) throw new UsageError(`${flag} must be ${what}, got '${value}'`);
  return n;
}

function existing(file: string, flag: string, kind: 'file' | 'folder'): string {
  const resolved = path.resolve(file);
  if (!existsSync(resolved)) throw new UsageError(`${flag} ${file}: no such ${kind}`);
  const isDir = statSync(resolved).isDirectory();
  if (isDir !== (kind === 'folder')) throw new UsageError(`${flag} ${file}: not a ${kind}`);
  return resolved;
}

export function parseEvalArgs(argv: readonly string[]): ParsedArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'model-dir': { type: 'string', multiple: true },
        model: { type: 'string', multiple: true },
        data: { type: 'string' },
        embeddings: { type: 'string' },
        holdout: { type: 'string' },
        seed: { type: 'string' },
        descriptions: { type: 'string' },
        out: { type: 'string' },
        'cache-dir': { type: 'string' },
        'spot-check': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  const { values, positionals } = parsed;
  if (values.help) return { help: true };
  const [command, ...rest] = positionals;
  if (command === undefined) throw new UsageError('name a command: zero-shot');
  if (command !== 'zero-shot') throw new UsageError(`unknown command '${command}' (commands: zero-shot)`);
  if (rest.length > 0) throw new UsageError(`unexpected argument '${rest[0]}'`);

  const dirs = values['model-dir'] ?? [];
  const ids = values.model ?? [];
  if (dirs.length + ids.length !== 1) throw new UsageError('give exactly one model: --model-dir [id=]DIR or --model ID');
  let modelDir: string | undefined;
  if (dirs[0] !== undefined) {
    // `id=DIR`: check the folder part (an `=` inside a path without an id still works).
    const eq = dirs[0].indexOf('=');
    const dir = eq > 0 && !existsSync(dirs[0]) ? dirs[0].slice(eq + 1) : dirs[0];
    existing(dir, '--model-dir', 'folder');
    modelDir = dirs[0];
  }
  if ((values.data === undefined) === (values.embeddings === undefined)) throw new UsageError('give one of --data DIR or --embeddings FILE');

  const args: EvalArgs = {
    command: 'zero-shot',
    holdout: number(values.holdout, '--holdout', 0.3, (n) => n > 0 && n < 1, 'a fraction between 0 and 1 (exclusive)'),
    seed: number(values.seed, '--seed', 0, (n) => Number.isInteger(n) && n >= 0 && n <= 2 ** 31, 'an integer from 0 to 2^31'),
    spotCheck: number(values['spot-check'], '--spot-check', 8, (n) => Number.isInteger(n) && n >= 0 && n <= 16, 'an integer from 0 to 16'),
    out: path.resolve(values.out ?? 'zero-shot-eval.png'),
  };
  if (modelDir !== undefined) args.modelDir = modelDir;
  if (ids[0] !== undefined) args.model = ids[0];
  if (values.data !== undefined) args.data = existing(values.data, '--data', 'folder');
  if (values.embeddings !== undefined) args.embeddings = existing(values.embeddings, '--embeddings', 'file');
  if (values.descriptions !== undefined) args.descriptions = existing(values.descriptions, '--descriptions', 'file');
  if (values['cache-dir'] !== undefined) args.cacheDir = path.resolve(values['cache-dir']);
  if (!args.out.toLowerCase().endsWith('.png')) throw new UsageError(`--out ${values.out}: the plot is a PNG, name it *.png`);
  if (!existsSync(path.dirname(args.out))) throw new UsageError(`--out ${values.out}: folder ${path.dirname(args.out)} does not exist`);
  return { help: false, ...args };
}
