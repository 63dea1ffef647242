/**
 * What can be tested of the container without a Docker engine (none runs here, and base images
 * cannot be pulled): the Dockerfile's start command, run on the compiled build laid out as the
 * image lays it out (it serves, then drains and exits 0 on SIGTERM); the files the Dockerfile
 * and compose.yaml copy and mount exist; compose.yaml validates against the Compose
 * specification's JSON schema (dclint ships it) and passes dclint's rules; the compose Prometheus
 * configuration passes promtool.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { freePort } from '../../bench/processes.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinyVitDir } from '../helpers/test-models.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const run = promisify(execFile);

interface LintReport {
  messages: Array<{ rule: string; type: string; message: string }>;
}

/** dclint's findings for one compose file (its exit status is 1 when there are errors). */
async function lintCompose(file: string): Promise<LintReport['messages']> {
  const bin = path.join(repo, 'node_modules', '.bin', 'dclint');
  const { stdout } = await run(bin, ['--formatter', 'json', file]).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  return (JSON.parse(stdout) as LintReport[]).flatMap((report) => report.messages);
}

/** The Dockerfile's instructions of one kind, as their argument strings. */
async function instructions(kind: string): Promise<string[]> {
  const text = (await readFile(path.join(repo, 'Dockerfile'), 'utf8')).replace(/\\\n\s*/g, ' ');
  return text.split('\n').filter((line) => line.startsWith(`${kind} `)).map((line) => line.slice(kind.length + 1).trim());
}

describe('container', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(path.join(os.tmpdir(), 'mms-container-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('copies only files the repository has', async () => {
    for (const copy of await instructions('COPY')) {
      if (copy.startsWith('--from=')) continue;
      for (const source of copy.split(/\s+/).slice(0, -1)) assert.ok(existsSync(path.join(repo, source)), `COPY ${source}`);
    }
  });

  it('starts with its ENTRYPOINT on the compiled build, serves, and exits 0 on SIGTERM after draining', async () => {
    const [entrypoint] = await instructions('ENTRYPOINT');
    const command = JSON.parse(entrypoint!) as string[];
    assert.deepEqual(command, ['node', 'dist/src/server/main.js']);
    // The image's /app: the compiled build, package.json, proto/, models/, the dependencies.
    const app = path.join(work, 'app');
    await mkdir(app);
    await run(process.execPath, [path.join(repo, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', path.join(repo, 'tsconfig.json'), '--outDir', path.join(app, 'dist')], { timeout: 180_000 });
    await run(process.execPath, [path.join(repo, 'scripts', 'copy-static.mjs'), path.join(app, 'dist')], { cwd: repo });
    for (const entry of ['package.json', 'proto', 'models']) await cp(path.join(repo, entry), path.join(app, entry), { recursive: true });
    await symlink(path.join(repo, 'node_modules'), path.join(app, 'node_modules'));
    const port = await freePort();
    const env = { ...process.env, PORT: String(port), GRPC_PORT: String(await freePort()), HOST: '127.0.0.1', MMS_CACHE_DIR: path.join(work, 'cache'), LOG_LEVEL: 'warn' };
    const child = spawn(command[0] === 'node' ? process.execPath : command[0]!, [...command.slice(1), '--model-dir', `vit=${await tinyVitDir()}`], { cwd: app, env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (chunk) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const deadline = Date.now() + 60_000;
      let ready = false;
      while (!ready && Date.now() < deadline) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false);
        if (!ready) await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.ok(ready, `ready: ${stderr}`);
      const form = new FormData();
      form.append('image', new Blob([await readFile(sharedImage('chelsea.png'))]), 'chelsea.png');
      const answer = await fetch(`http://127.0.0.1:${port}/v1/classify`, { method: 'POST', body: form });
      assert.equal(answer.status, 200);
      assert.equal(((await answer.json()) as { model: string }).model, 'vit');
      // The playground's static files are in the build.
      const page = await fetch(`http://127.0.0.1:${port}/`);
      assert.equal(page.status, 200);
      assert.match(await page.text(), /<title>/);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0, stderr);
  });

  it('composes the server, Prometheus and Grafana from files that exist', async () => {
    const deploy = path.join(repo, 'deploy');
    const compose = parse(await readFile(path.join(deploy, 'compose.yaml'), 'utf8')) as { services: Record<string, { build?: { context: string }; volumes?: string[]; image?: string }> };
    assert.deepEqual(Object.keys(compose.services).sort(), ['grafana', 'prometheus', 'server']);
    assert.ok(existsSync(path.join(deploy, compose.services.server!.build!.context, 'Dockerfile')));
    for (const service of Object.values(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = volume.split(':')[0]!;
        if (source.startsWith('.')) assert.ok(existsSync(path.join(deploy, source)), volume);
      }
    }
    // Its Prometheus configuration, with the rules at their path in this checkout.
    const config = (await readFile(path.join(deploy, 'prometheus', 'prometheus.yml'), 'utf8')).replace('/etc/prometheus/rules.yml', path.join(deploy, 'prometheus', 'rules.yml'));
    await writeFile(path.join(work, 'prometheus.yml'), config);
    const { stdout } = await run('promtool', ['check', 'config', path.join(work, 'prometheus.yml')]);
    assert.match(stdout, /SUCCESS/);
  });

  it('validates compose.yaml against the Compose specification and dclint\'s rules', async () => {
    const file = path.join(repo, 'deploy', 'compose.yaml');
    assert.deepEqual(await lintCompose(file), []);
    // The same check refuses a key the specification does not have.
    const broken = (await readFile(file, 'utf8')).replace('stop_grace_period: 40s', 'stop_grace_period: 40s\n    restart_policy: always');
    await writeFile(path.join(work, 'compose.yaml'), broken);
    const findings = await lintCompose(path.join(work, 'compose.yaml'));
    assert.ok(findings.some((finding) => finding.rule === 'invalid-schema' && /additional properties/.test(finding.message)), JSON.stringify(findings));
  });
});
