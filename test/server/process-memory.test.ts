/**
 * Memory under a decompression attack, measured on the real server process: 48 concurrent
 * 7000×7000 RGBA PNGs (a few hundred KB each, ~200 MB each once decoded). The pixel-memory budget
 * must hold the process' peak RSS under its baseline plus the budget, and every request must
 * get an answer: 200 once there is room, else 429/503 with Retry-After.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFile } from 'node:fs/promises';
import sharp from 'sharp';
import { sharedImage } from '../helpers/shared-dir.js';
import { startServerProcess } from '../helpers/server-process.js';
import { tinyVitDir } from '../helpers/test-models.js';

const MIB = 1024 * 1024;
const BUDGET = 768 * MIB;

test('48 concurrent 7000×7000 RGBA PNGs keep peak RSS under baseline + pixel budget, and all are answered', async () => {
  // Noise in one channel keeps the file from being trivially small, like the attack's 190 KB PNG.
  const width = 7000;
  const height = 7000;
  const rgba = Buffer.alloc(width * height * 4, 255);
  for (let i = 0; i < rgba.length; i += 4 * 97) rgba[i] = i & 255;
  const png = await sharp(rgba, { raw: { width, height, channels: 4 } }).png({ compressionLevel: 9 }).toBuffer();
  assert.ok(png.length < 2 * MIB, `${png.length} bytes on the wire`);

  const server = await startServerProcess(['--model-dir', await tinyVitDir()], {
    MMS_PIXEL_BUDGET_BYTES: String(BUDGET),
    MMS_PIXEL_BUDGET_WAIT_MS: '4000',
  });
  try {
    await server.ready();
    // Baseline: after a normal request has warmed every path (preprocessing workers included).
    const photo = await readFile(sharedImage('chelsea.png'));
    const warm = await fetch(`${server.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: photo });
    assert.equal(warm.status, 200, await warm.text());
    const baseline = (await server.memory()).rss;

    const answers = await Promise.all(
      Array.from({ length: 48 }, async () => {
        const res = await fetch(`${server.url}/v1/classify`, { method: 'POST', headers: { 'content-type': 'image/png' }, body: png });
        const body = (await res.json()) as { error?: { code: string } };
        if (res.status !== 200) assert.ok(Number(res.headers.get('retry-after')) >= 1, `${res.status} without Retry-After`);
        return { status: res.status, code: body.error?.code };
      }),
    );
    const { peak } = await server.memory();
    console.log(`baseline ${Math.round(baseline / MIB)} MiB, peak ${Math.round(peak / MIB)} MiB, statuses ${tally(answers)}`);
    const statuses = answers.map((a) => a.status);
    assert.ok(statuses.every((s) => s === 200 || s === 429 || s === 503), `statuses ${statuses.join(',')}`);
    assert.ok(statuses.includes(200), 'some were served');
    assert.ok(
      peak < baseline + BUDGET,
      `peak RSS ${Math.round(peak / MIB)} MiB ≥ baseline ${Math.round(baseline / MIB)} MiB + budget ${BUDGET / MIB} MiB`,
    );
  } finally {
    server.kill('SIGKILL');
    await server.exited;
  }
});

function tally(answers: Array<{ status: number }>): string {
  const counts = new Map<number, number>();
  for (const { status } of answers) counts.set(status, (counts.get(status) ?? 0) + 1);
  return [...counts].map(([status, n]) => `${status}×${n}`).join(' ');
}
