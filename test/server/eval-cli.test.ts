/**
 * `npm run eval -- zero-shot` as a child process on the generated CLIP: an image folder built from
 * the shared photos (flips, crops, rotations), and a synthetic embeddings file whose clusters sit
 * across a modality gap from their labels' texts (the alignment must raise held-out accuracy).
 * Checks the exit code, the table, the checks against the server, and that the plot is a PNG.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp, { type Sharp } from 'sharp';
import { SeededRandom } from '../../src/models/generator/seeded-random.js';
import { normalise } from '../../src/pipelines/zero-shot-prompts.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

const CLI = path.join('src', 'server', 'eval-cli.ts');

function runCli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

interface Row {
  strategy: string;
  cells: string[];
}

/** The table's strategy rows, split on `|`. */
function tableRows(stdout: string): Row[] {
  return stdout
    .split('\n')
    .filter((line) => line.includes(' | '))
    .map((line) => line.split('|').map((c) => c.trim()))
    .filter((cells) => ['plain', 'template', 'ensemble', 'descriptive'].includes(cells[0]!))
    .map((cells) => ({ strategy: cells[0]!, cells }));
}

/** A measured row: three accuracies in [0, 1] and `gap before → after`. */
function measured(row: Row) {
  const [all, held, aligned] = row.cells.slice(1, 4).map(Number) as [number, number, number];
  for (const value of [all, held, aligned]) assert.ok(value >= 0 && value <= 1, `${row.strategy}: accuracy ${value} in [0, 1]`);
  const gap = /^([\d.]+) → ([\d.]+)$/.exec(row.cells[4] ?? '');
  assert.ok(gap, `${row.strategy}: gap cell '${row.cells[4]}'`);
  return { all, held, aligned, gapBefore: Number(gap[1]), gapAfter: Number(gap[2]) };
}

async function assertPng(file: string) {
  const meta = await sharp(file).metadata();
  assert.equal(meta.format, 'png');
  assert.ok(meta.width! >= 800 && meta.width! <= 2000, `width ${meta.width}`);
  assert.ok(meta.height! >= 400 && meta.height! <= 2000, `height ${meta.height}`);
  // Not blank: the plot draws coloured points on white.
  const stats = await sharp(file).stats();
  assert.ok(stats.channels.slice(0, 3).some((c) => c.stdev > 10), 'the plot has content');
}

/** Seven variants of a photo: as is, mirrored, flipped, two crops, rotated, greyscale; small, to keep it quick. */
async function augment(source: string, dir: string, prefix: string) {
  await mkdir(dir, { recursive: true });
  const meta = await sharp(source).metadata();
  const [w, h] = [meta.width!, meta.height!];
  const base = () => sharp(source).rotate();
  const variants: [string, Sharp][] = [
    ['orig.png', base()],
    ['flop.png', base().flop()],
    ['flip.jpg', base().flip()],
    ['crop-a.png', base().extract({ left: 0, top: 0, width: Math.floor(w * 0.7), height: Math.floor(h * 0.7) })],
    ['crop-b.jpg', base().extract({ left: Math.floor(w * 0.3), top: Math.floor(h * 0.3), width: Math.floor(w * 0.7), height: Math.floor(h * 0.7) })],
    ['rot90.png', base().rotate(90)],
    ['grey.png', base().greyscale()],
  ];
  for (const [name, image] of variants) {
    const bytes = await image.toBuffer();
    await sharp(bytes).resize({ width: 160, height: 160, fit: 'inside' }).toFile(path.join(dir, `${prefix}-${name}`));
  }
}

describe('npm run eval -- zero-shot', () => {
  let tmp: string;
  let clipDir: string;
  let dataDir: string;
  let embeddingsFile: string;
  let descriptionsFile: string;
  const labels = ['cat', 'dog', 'bird', 'car'];

  before(async () => {
    tmp = await mkdtemp(path.join(os.tmpdir(), 'mms-eval-cli-'));
    clipDir = await tinyClipDir();
    dataDir = path.join(tmp, 'data');
    await augment(sharedImage('chelsea.png'), path.join(dataDir, 'cat'), 'chelsea');
    await augment(sharedImage('rocket.jpg'), path.join(dataDir, 'rocket'), 'rocket');

    // Image-like embeddings: each label's text embedding (template prompt) rotated by a fixed
    // coordinate permutation and pushed along a shared gap, plus noise (as in alignments.test.ts).
    const server = await startTestServer(['--model-dir', `clip=${clipDir}`]);
    let text: Float32Array[];
    try {
      const res = await fetch(`http://127.0.0.1:${server.httpPort}/v1/embeddings`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'clip', input: labels.map((l) => `a photo of a ${l}.`) }),
      });
      text = ((await res.json()) as { data: { embedding: number[] }[] }).data.map((d) => Float32Array.from(d.embedding));
    } finally {
      await server.close();
    }
    const dim = text[0]!.length;
    assert.equal(dim, 16);
    const rng = new SeededRandom(11);
    const perm = Array.from({ length: dim }, (_, i) => (i * 7 + 3) % dim);
    const gap = normalise(rng.normalArray(dim, 1)); // a unit gap: a longer one shrinks the clusters' spread after normalising, which a rotation cannot undo
    const examples = Array.from({ length: 80 }, (_, i) => {
      const k = i % labels.length;
      const x = normalise(Float32Array.from(perm, (p, j) => text[k]![p]! + gap[j]! + rng.normal() * 0.02));
      return { embedding: Array.from(x), label: labels[k]! };
    });
    embeddingsFile = path.join(tmp, 'embeddings.json');
    await writeFile(embeddingsFile, JSON.stringify(examples));
    descriptionsFile = path.join(tmp, 'descriptions.json');
    await writeFile(descriptionsFile, JSON.stringify(Object.fromEntries(labels.map((l) => [l, [`a ${l}`, `a picture showing a ${l}`]]))));
  });
  after(async () => {
    await rm(tmp, { recursive: true, force: true });
  });

  it('evaluates an image folder: a row per strategy, descriptive skipped, checks agree, a PNG plot', async () => {
    assert.equal((await readdir(path.join(dataDir, 'cat'))).length, 7);
    const out = path.join(tmp, 'images.png');
    const cacheDir = path.join(tmp, 'cache-images');
    const { code, stdout, stderr } = await runCli(['zero-shot', '--model-dir', `clip=${clipDir}`, '--data', dataDir, '--out', out, '--cache-dir', cacheDir]);
    assert.equal(code, 0, stderr);
    process.stdout.write(`${stdout}\n`);
    const rows = tableRows(stdout);
    assert.deepEqual(
      rows.map((r) => r.strategy),
      ['plain', 'template', 'ensemble', 'descriptive'],
    );
    for (const row of rows.slice(0, 3)) measured(row);
    assert.match(rows[3]!.cells[1]!, /skipped: no --descriptions/);
    assert.match(stdout, /14 examples, 2 labels; fit 10, held out 4/);
    // Client-side scoring agreed with the server's fit statistics and with /v1/zero-shot on held-out images.
    const checks = /checked against the server: (\d+)\/(\d+) agree/.exec(stdout);
    assert.ok(checks && Number(checks[2]) === 3 * (2 + 2 * 4), stdout);
    assert.equal(checks[1], checks[2], stdout);
    assert.match(stderr, /embedding images: 14\/14/);
    await assertPng(out);
    // The alignments stay in the cache dir the user named.
    assert.deepEqual((await readdir(path.join(cacheDir, 'alignments'))).sort(), ['eval-ensemble.json', 'eval-plain.json', 'eval-template.json']);
  });

  it('evaluates an embeddings file: the alignment raises held-out accuracy and closes the gap', async () => {
    const out = path.join(tmp, 'embeddings.png');
    const { code, stdout, stderr } = await runCli([
      'zero-shot', '--model-dir', `clip=${clipDir}`, '--embeddings', embeddingsFile, '--descriptions', descriptionsFile,
      '--holdout', '0.3', '--seed', '3', '--out', out,
    ]);
    assert.equal(code, 0, stderr);
    process.stdout.write(`${stdout}\n`);
    const rows = tableRows(stdout);
    assert.deepEqual(
      rows.map((r) => r.strategy),
      ['plain', 'template', 'ensemble', 'descriptive'],
    );
    const template = measured(rows[1]!);
    assert.ok(template.aligned > template.held, `template: held-out ${template.held} → ${template.aligned} with the alignment`);
    assert.ok(template.aligned >= 0.9, `template: held-out with alignment ${template.aligned}`);
    assert.ok(template.gapAfter < template.gapBefore / 2, `gap ${template.gapBefore} → ${template.gapAfter}`);
    for (const row of rows) measured(row);
    const checks = /checked against the server: (\d+)\/(\d+) agree/.exec(stdout);
    assert.ok(checks && checks[1] === checks[2] && Number(checks[2]) === 8, stdout);
    await assertPng(out);
  });

  it('exits 2 with a clear message for bad arguments, and for embeddings of the wrong dimension', async () => {
    const missing = await runCli(['zero-shot', '--model-dir', clipDir]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /give one of --data DIR or --embeddings FILE/);
    const holdout = await runCli(['zero-shot', '--model-dir', clipDir, '--data', dataDir, '--holdout', '1.5']);
    assert.equal(holdout.code, 2);
    assert.match(holdout.stderr, /--holdout must be a fraction/);

    const wrong = path.join(tmp, 'wrong-dim.json');
    await writeFile(wrong, JSON.stringify([{ embedding: [1, 0, 0], label: 'a' }, { embedding: [0, 1, 0], label: 'a' }, { embedding: [0, 0, 1], label: 'b' }, { embedding: [1, 1, 0], label: 'b' }]));
    const dims = await runCli(['zero-shot', '--model-dir', clipDir, '--embeddings', wrong, '--out', path.join(tmp, 'never.png')]);
    assert.equal(dims.code, 2, dims.stderr);
    assert.match(dims.stderr, /3 dimensions; model '.+' embeds in 16/);
  });
});
