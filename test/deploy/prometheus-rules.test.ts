/**
 * deploy/prometheus/rules.yml with Debian's real promtool (installed by scripts/setup.sh): the
 * rules parse (`check rules`), and their unit tests on synthetic series pass (`test rules`):
 * the overload ratio and its alert, p95 latency, a model not ready, a worker restart, queue depth
 * per pod.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const rulesDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'deploy', 'prometheus');
const promtool = (...args: string[]) => promisify(execFile)('promtool', args, { cwd: rulesDir, timeout: 60_000 });

describe('Prometheus rules', () => {
  it('pass promtool check rules', async () => {
    const { stdout } = await promtool('check', 'rules', 'rules.yml');
    assert.match(stdout, /SUCCESS: 9 rules found/);
  });

  it('pass their promtool unit tests', async () => {
    const { stdout } = await promtool('test', 'rules', 'rules.test.yml');
    assert.match(stdout, /SUCCESS/);
  });
});
