/** Layout tuning: the candidates, the choice among them, and a real timing run on a generated ViT. */
import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { candidateLayouts, pickBest, tuneLayout, type TuningRow } from '../../src/models/session/layout-tuning.js';
import { tinyVitDir } from '../helpers/test-models.js';

const row = (instances: number, maxBatchSize: number, itemsPerSecond: number): TuningRow => ({
  instances,
  intraOpThreads: 4 / instances,
  maxBatchSize,
  itemsPerSecond,
  runP50Ms: 1,
});

describe('candidate layouts', () => {
  it('splits the cores every way that divides them', () => {
    assert.deepEqual(candidateLayouts(2), [
      { instances: 1, intraOpThreads: 2 },
      { instances: 2, intraOpThreads: 1 },
    ]);
    assert.deepEqual(
      candidateLayouts(6).map((l) => `${l.instances}x${l.intraOpThreads}`),
      ['1x6', '2x3', '3x2', '6x1'],
    );
  });

  it('keeps what the operator fixed', () => {
    assert.deepEqual(candidateLayouts(4, { instances: 2 }), [{ instances: 2, intraOpThreads: 2 }]);
    assert.deepEqual(candidateLayouts(4, { intraOpThreads: 2 }), [
      { instances: 1, intraOpThreads: 2 },
      { instances: 2, intraOpThreads: 2 },
    ]);
    assert.deepEqual(candidateLayouts(2, { instances: 3, intraOpThreads: 1 }), [{ instances: 3, intraOpThreads: 1 }]);
  });
});

describe('choosing among timed candidates', () => {
  const pick = (rows: TuningRow[]) => {
    const best = pickBest(rows);
    return [best.instances, best.maxBatchSize];
  };
  it('takes the fastest when it is clearly ahead', () => {
    assert.deepEqual(pick([row(1, 1, 10), row(1, 4, 12), row(2, 4, 10.2)]), [1, 4]);
  });

  it('among near-ties, prefers fewer threads per worker, then the smaller batch', () => {
    assert.deepEqual(pick([row(1, 4, 10.2), row(2, 4, 10), row(2, 2, 9.95), row(4, 1, 9)]), [2, 2], '4 x 1 is more than 3% behind');
    assert.deepEqual(pick([row(1, 1, 10), row(1, 2, 9.9), row(4, 8, 9.8)]), [4, 8]);
  });
});

describe('tuneLayout on a generated ViT', () => {
  it('times every layout and batch size and keeps one of them', async () => {
    const file = path.join(await tinyVitDir(), 'onnx', 'model.onnx');
    const { rows, best } = await tuneLayout({ file, cores: 2, providers: ['cpu'], batchSizes: [1, 3], secondsPerCandidate: 0.15 });
    assert.deepEqual(
      rows.map((r) => `${r.instances}x${r.intraOpThreads}/${r.maxBatchSize}`),
      ['1x2/1', '1x2/3', '2x1/1', '2x1/3'],
    );
    for (const r of rows) assert.ok(r.itemsPerSecond > 0 && r.runP50Ms > 0, JSON.stringify(r));
    assert.ok(rows.includes(best));
    assert.equal(best, pickBest(rows));
  });

  it('times only the batch size the operator fixed', async () => {
    const file = path.join(await tinyVitDir(), 'onnx', 'model.onnx');
    const { rows } = await tuneLayout({ file, cores: 2, providers: ['cpu'], fixed: { maxBatchSize: 2, instances: 1 }, secondsPerCandidate: 0.1 });
    assert.deepEqual(
      rows.map((r) => `${r.instances}x${r.intraOpThreads}/${r.maxBatchSize}`),
      ['1x2/2'],
    );
  });

  it('stops when aborted', async () => {
    const file = path.join(await tinyVitDir(), 'onnx', 'model.onnx');
    const controller = new AbortController();
    const tuning = tuneLayout({ file, cores: 2, providers: ['cpu'], secondsPerCandidate: 30, signal: controller.signal });
    setTimeout(() => controller.abort(), 300);
    const started = performance.now();
    await assert.rejects(tuning, { name: 'AbortError' });
    assert.ok(performance.now() - started < 10_000, 'aborted long before its 30-second candidates ended');
  });
});
