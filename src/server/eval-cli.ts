/**
 * `npm run eval -- zero-shot ...`: CLIP zero-shot accuracy per prompt strategy, before and after
 * a modality-gap alignment, on the real server started in this process. `--help` for the flags;
 * the work is in `src/server/eval/` (zero-shot-eval.ts states how the numbers are computed).
 * Exit codes: 0 done, 1 failed, 2 bad arguments.
 */
import { pathToFileURL } from 'node:url';
import { parseEvalArgs, USAGE, UsageError } from './eval/args.js';
import { formatTable } from './eval/table.js';
import { runZeroShotEval } from './eval/zero-shot-eval.js';

interface Streams {
  stdout: { write(text: string): unknown };
  stderr: NodeJS.WriteStream;
}

export async function runEvalCli(argv: readonly string[], streams: Streams = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const { stdout, stderr } = streams;
  try {
    const args = parseEvalArgs(argv);
    if (args.help) {
      stdout.write(`${USAGE}\n`);
      return 0;
    }
    const result = await runZeroShotEval(args, { stderr });
    const lines = [
      `model ${result.model}${result.randomWeights ? ' (random weights: the accuracies mean nothing)' : ''}; ${result.examples} examples, ${result.labels.length} labels; fit ${result.fitExamples}, held out ${result.heldOutExamples} (holdout ${args.holdout}, seed ${args.seed})`,
      '',
      formatTable(result.rows),
      '',
      'accuracy: top-1 by cosine to each label\'s prompt embedding; gap: distance from the held-out images\' centroid to their labels\' text centroid',
      `checked against the server: ${result.checks.compared - result.checks.disagreements.length}/${result.checks.compared} agree`,
      ...result.checks.disagreements.map((d) => `  disagreement: ${d}`),
      ...result.warnings.map((w) => `warning: ${w}`),
      `plot: ${result.plot.file} (${result.plot.width}×${result.plot.height})`,
      ...(result.cacheDir ? [`alignments kept in ${result.cacheDir}/alignments (eval-<strategy>)`] : []),
    ];
    stdout.write(`${lines.join('\n')}\n`);
    return 0;
  } catch (error) {
    if (error instanceof UsageError) {
      stderr.write(`error: ${error.message}\n(npm run eval -- --help for the arguments)\n`);
      return 2;
    }
    stderr.write(`error: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  process.exitCode = await runEvalCli(process.argv.slice(2));
}
