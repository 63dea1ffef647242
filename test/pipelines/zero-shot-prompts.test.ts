import assert from 'node:assert/strict';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { loadClipTokenizer } from '../../src/models/clip/clip-tokenizer.js';
import { EmbeddingCache } from '../../src/pipelines/embedding-cache.js';
import { ENSEMBLE_TEMPLATES, meanOfNormalised, normalise, promptsFor } from '../../src/pipelines/zero-shot-prompts.js';
import { sharedDir } from '../helpers/shared-dir.js';

describe('CLIP tokenizer (the real one from the Hugging Face repo)', () => {
  it("gives the reference ids for 'a photo of a cat.', lower-cased, with start and end tokens", async () => {
    const tokenizer = await loadClipTokenizer(path.join(sharedDir(), 'hf', 'clip-vit-base-patch32'), 77);
    assert.deepEqual(tokenizer.encode('a photo of a cat.'), { ids: [49406, 320, 1125, 539, 320, 2368, 269, 49407], truncated: false });
    assert.deepEqual(tokenizer.encode('A PHOTO of a Cat.').ids, [49406, 320, 1125, 539, 320, 2368, 269, 49407]);
    assert.equal(tokenizer.padId, 49407, 'CLIP pads with <|endoftext|>');
  });

  it('cuts a prompt over 77 tokens to 77, ending with <|endoftext|>, and says so', async () => {
    const tokenizer = await loadClipTokenizer(path.join(sharedDir(), 'hf', 'clip-vit-base-patch32'), 77);
    const long = tokenizer.encode(Array(100).fill('cat').join(' '));
    assert.equal(long.truncated, true);
    assert.equal(long.ids.length, 77);
    assert.equal(long.ids[0], 49406);
    assert.equal(long.ids[76], 49407);
    assert.equal(long.ids[75], 2368);
  });
});

describe('prompt strategies', () => {
  const labels = ['cat', 'golden retriever'];

  it('plain, template (default and given), ensemble (built-in and given), descriptive', () => {
    assert.deepEqual(promptsFor({ labels, strategy: 'plain' }), [['cat'], ['golden retriever']]);
    assert.deepEqual(promptsFor({ labels, strategy: 'template' }), [['a photo of a cat.'], ['a photo of a golden retriever.']]);
    assert.deepEqual(promptsFor({ labels, strategy: 'template', template: '{label}, a pet' }), [['cat, a pet'], ['golden retriever, a pet']]);
    const ensemble = promptsFor({ labels, strategy: 'ensemble' });
    assert.equal(ensemble[0]!.length, ENSEMBLE_TEMPLATES.length);
    assert.ok(ENSEMBLE_TEMPLATES.length >= 8 && ENSEMBLE_TEMPLATES.length <= 20);
    assert.ok(ensemble[1]!.every((prompt) => prompt.includes('golden retriever') && !prompt.includes('{label}')));
    assert.deepEqual(promptsFor({ labels: ['cat'], strategy: 'ensemble', templates: ['{label}', 'art of {label}'] }), [['cat', 'art of cat']]);
    const descriptions = { cat: ['a small feline', 'whiskers'], 'golden retriever': ['a large yellow dog'] };
    assert.deepEqual(promptsFor({ labels, strategy: 'descriptive', descriptions }), [['a small feline', 'whiskers'], ['a large yellow dog']]);
  });

  it('descriptive needs descriptions for every label', () => {
    assert.throws(
      () => promptsFor({ labels, strategy: 'descriptive', descriptions: { cat: ['whiskers'] } }),
      (error: unknown) => error instanceof ApiError && error.code === 'invalid_request' && /golden retriever/.test(error.message),
    );
  });

  it('an ensemble embedding is the re-normalised mean of the normalised prompt embeddings', () => {
    const a = new Float32Array([3, 0, 0]); // normalised: [1, 0, 0]
    const b = new Float32Array([0, 0.5, 0]); // normalised: [0, 1, 0]
    const mean = meanOfNormalised([a, b]);
    assert.ok(Math.abs(mean[0]! - Math.SQRT1_2) < 1e-6 && Math.abs(mean[1]! - Math.SQRT1_2) < 1e-6 && mean[2] === 0);
    assert.deepEqual([...meanOfNormalised([a])], [1, 0, 0], 'one prompt: its normalised embedding');
    assert.deepEqual([...normalise(new Float32Array([0, 0]))], [0, 0], 'zero stays zero');
  });
});

describe('embedding cache', () => {
  it('computes a key once, shares a pending computation, evicts the least recently used by bytes', async () => {
    const counts = { hit: 0, miss: 0 };
    const cache = new EmbeddingCache<{ vector: Float32Array }>({ maxBytes: 3 * (16 + 2 * 2), onHit: () => counts.hit++, onMiss: () => counts.miss++ });
    let computed = 0;
    const vector = (value: number) => async () => {
      computed++;
      return { vector: new Float32Array(4).fill(value) };
    };
    const [x, y] = await Promise.all([cache.getOrCompute('k1', vector(1)), cache.getOrCompute('k1', vector(9))]);
    assert.equal(computed, 1, 'concurrent misses on one key compute once');
    assert.equal(x, y);
    await cache.getOrCompute('k2', vector(2));
    await cache.getOrCompute('k3', vector(3));
    await cache.getOrCompute('k1', vector(9)); // k1 becomes the most recent
    await cache.getOrCompute('k4', vector(4)); // evicts k2, the least recent
    assert.equal(cache.size, 3);
    computed = 0;
    assert.equal((await cache.getOrCompute('k1', vector(9))).vector[0], 1, 'k1 kept');
    assert.equal((await cache.getOrCompute('k2', vector(5))).vector[0], 5, 'k2 was evicted and recomputed');
    assert.equal(computed, 1);
    assert.ok(cache.bytes <= 3 * 20);
    assert.deepEqual(counts, { hit: 3, miss: 5 });
  });

  it('does not cache a failure', async () => {
    const cache = new EmbeddingCache<{ vector: Float32Array }>({ maxBytes: 1024 });
    await assert.rejects(cache.getOrCompute('k', async () => Promise.reject(new Error('tower failed'))));
    assert.equal((await cache.getOrCompute('k', async () => ({ vector: new Float32Array([1]) }))).vector[0], 1);
  });
});
