/**
 * onnxruntime-node stays in the session workers: the main thread of a server serving a ViT and a
 * CLIP (tokenizer included) never loads it (importing @huggingface/transformers would: +42 MB).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyClipDir, tinyVitDir } from '../helpers/test-models.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

test('the main thread never loads onnxruntime-node, with a ViT and a CLIP served and used', async () => {
  const fixture = path.join(repoRoot, 'test', 'fixtures', 'serve-and-list-main-thread-modules.ts');
  const args = ['--import', 'tsx', fixture, await tinyVitDir(), await tinyClipDir(), sharedImage('chelsea.png')];
  const { stdout } = await promisify(execFile)(process.execPath, args, { cwd: repoRoot, timeout: 60_000 });
  const { statuses, loaded } = JSON.parse(stdout.trim().split('\n').at(-1)!) as { statuses: number[]; loaded: string[] };
  assert.deepEqual(statuses, [200, 200, 200], 'the three tasks answered');
  assert.deepEqual(loaded, [], 'no onnxruntime module in the main thread');
});
