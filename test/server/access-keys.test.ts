/**
 * The API key store (src/server/access/api-keys.ts): keys from a file (hashed or plain) and from
 * MMS_API_KEYS, refusals that never quote the key, model and task grants, errors that name the
 * bad entry and field, reloading (by hand and by watching the file's folder), parseBearer.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { ApiKeyStore, anonymousPrincipal, parseBearer, type ReloadResult } from '../../src/server/access/api-keys.js';
import { capturingLogger } from '../helpers/capture-logger.js';

const KEY_A = 'sk-team-a-0123456789abcdef';
const KEY_B = 'sk-team-b-fedcba9876543210';
const KEY_C = 'sk-team-c-aaaabbbbccccdddd';
const ENV_KEY = 'sk-env-key-0000111122223333';
const DEFAULTS = { requestsPerSecond: 5, burst: 10, maxConcurrent: 2 };

/** Resolves once `condition` holds (polled), failing after 5 s: file events take their time on a busy machine. */
async function until(condition: () => boolean): Promise<void> {
  for (const start = Date.now(); !condition(); await new Promise((resolve) => setTimeout(resolve, 10))) {
    if (Date.now() - start > 5000) assert.fail('timed out waiting for a file event');
  }
}

const hex = (key: string) => createHash('sha256').update(key).digest('hex');

/** The ApiError `fn` throws, checked to be `unauthorized`. */
function unauthorized(fn: () => unknown): ApiError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ApiError, `expected an ApiError, got ${String(error)}`);
    assert.equal(error.code, 'unauthorized');
    assert.equal(error.httpStatus, 401);
    return error;
  }
  assert.fail('expected an unauthorized error');
}

describe('ApiKeyStore', () => {
  let dir: string;
  let counter = 0;
  before(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'mms-keys-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** A keys file of its own (its own folder too, so watchers of other tests see nothing). */
  async function keysFile(content: unknown): Promise<string> {
    const folder = path.join(dir, `case-${++counter}`);
    await mkdir(folder);
    const file = path.join(folder, 'keys.json');
    await writeFile(file, typeof content === 'string' ? content : JSON.stringify(content));
    return file;
  }

  /** Replaces the file the way editors and config tools do: a new file renamed over the old one. */
  async function replaceFile(file: string, content: unknown): Promise<void> {
    const temp = `${file}.tmp-${++counter}`;
    await writeFile(temp, typeof content === 'string' ? content : JSON.stringify(content));
    await rename(temp, file);
  }

  async function loadError(content: unknown): Promise<Error> {
    const file = await keysFile(content);
    return ApiKeyStore.load({ file, defaults: DEFAULTS }).then(
      () => assert.fail('expected the file to be refused'),
      (error: Error) => error,
    );
  }

  const twoKeys = {
    keys: [
      { id: 'team-a', sha256: hex(KEY_A), models: ['vit', 'clip-*'], tasks: ['classify', 'zero-shot'], requests_per_second: 1, max_concurrent: null },
      { id: 'team-b', key: KEY_B },
    ],
  };

  it('authenticates hashed and plain keys from a file, with their grants and limits over the defaults', async () => {
    const store = await ApiKeyStore.load({ file: await keysFile(twoKeys), defaults: DEFAULTS });
    assert.equal(store.enabled, true);
    assert.equal(store.size, 2);

    const a = store.authenticate(KEY_A);
    assert.equal(a.id, 'team-a');
    assert.equal(a.anonymous, false);
    assert.deepEqual({ ...a.limits }, { requestsPerSecond: 1, burst: 10, maxConcurrent: undefined }, 'null switches a default limit off');

    const b = store.authenticate(KEY_B);
    assert.equal(b.id, 'team-b');
    assert.deepEqual({ ...b.limits }, DEFAULTS);
    assert.equal(b.allowsModel('anything:q8'), true);
    assert.equal(b.allowsTask('chat'), true);
  });

  it('matches model ids exactly or by a trailing * and tasks by name', async () => {
    const file = await keysFile({ keys: [...twoKeys.keys, { id: 'all-models', key: KEY_C, models: ['*'] }] });
    const store = await ApiKeyStore.load({ file, defaults: {} });
    const a = store.authenticate(KEY_A);
    for (const model of ['vit', 'clip-demo', 'clip-demo:q8', 'clip-']) assert.equal(a.allowsModel(model), true, model);
    for (const model of ['vit:q8', 'vit-demo', 'xclip-demo', 'clip', '']) assert.equal(a.allowsModel(model), false, model);
    assert.equal(a.allowsTask('classify'), true);
    assert.equal(a.allowsTask('zero-shot'), true);
    assert.equal(a.allowsTask('chat'), false);
    assert.equal(a.allowsTask('unknown-task'), false);
    const all = store.authenticate(KEY_C);
    assert.equal(all.allowsModel('smolvlm-256m-instruct:q8'), true);
    assert.equal(all.allowsTask('alignments'), true);
  });

  it('takes MMS_API_KEYS keys, each with every model and task and the default limits', async () => {
    const store = await ApiKeyStore.load({ envKeys: ` ${ENV_KEY} , ${KEY_C},`, defaults: DEFAULTS });
    assert.equal(store.enabled, true);
    assert.equal(store.size, 2);
    const principal = store.authenticate(ENV_KEY);
    assert.equal(principal.id, `env-${hex(ENV_KEY).slice(0, 8)}`);
    assert.deepEqual({ ...principal.limits }, DEFAULTS);
    assert.equal(principal.allowsModel('any-model'), true);
    assert.equal(principal.allowsTask('caption'), true);
    assert.equal(store.authenticate(KEY_C).id, `env-${hex(KEY_C).slice(0, 8)}`);
  });

  it('serves env and file keys together', async () => {
    const store = await ApiKeyStore.load({ file: await keysFile(twoKeys), envKeys: ENV_KEY, defaults: DEFAULTS });
    assert.equal(store.size, 3);
    assert.equal(store.authenticate(KEY_A).id, 'team-a');
    assert.equal(store.authenticate(ENV_KEY).id.startsWith('env-'), true);
  });

  it('is off with no file and no env keys, and fails closed with an empty file', async () => {
    const off = await ApiKeyStore.load({ envKeys: ' , ', defaults: DEFAULTS });
    assert.equal(off.enabled, false);
    assert.equal(off.size, 0);
    const empty = await ApiKeyStore.load({ file: await keysFile({ keys: [] }), defaults: DEFAULTS });
    assert.equal(empty.enabled, true, 'a configured file turns keys on even when it lists none');
    unauthorized(() => empty.authenticate(KEY_A));
  });

  it('refuses a missing key and a wrong key with distinct messages that never quote the key', async () => {
    const store = await ApiKeyStore.load({ file: await keysFile(twoKeys), defaults: DEFAULTS });
    const missing = unauthorized(() => store.authenticate(undefined));
    assert.equal(unauthorized(() => store.authenticate('')).message, missing.message);
    assert.match(missing.message, /required/);
    const wrongKey = 'sk-wrong-key-that-is-secret-1234';
    const wrong = unauthorized(() => store.authenticate(wrongKey));
    assert.notEqual(wrong.message, missing.message);
    assert.match(wrong.message, /not valid/);
    for (const presented of [wrongKey, KEY_A.slice(0, -1), `${KEY_A} `, KEY_A.toUpperCase()]) {
      const error = unauthorized(() => store.authenticate(presented));
      assert.ok(!error.message.includes(presented.trim()), 'the message does not quote the key');
      assert.ok(!JSON.stringify(error.toJSON()).includes(presented.trim()));
    }
  });

  it('anonymousPrincipal keys on the client, allows everything and carries the limits', () => {
    const principal = anonymousPrincipal('203.0.113.7', { requestsPerSecond: 2 });
    assert.equal(principal.id, 'anonymous:203.0.113.7');
    assert.equal(principal.anonymous, true);
    assert.equal(principal.allowsModel('vit'), true);
    assert.equal(principal.allowsTask('chat'), true);
    assert.deepEqual({ ...principal.limits }, { requestsPerSecond: 2 });
  });

  describe('a bad file', () => {
    it('that is not JSON is refused without quoting its text (a key could be in it)', async () => {
      const error = await loadError(`{"keys": [\n  {"id": "x", "key": ${KEY_A}}\n]}`);
      assert.match(error.message, /keys\.json: not valid JSON/);
      assert.ok(!error.message.includes(KEY_A.slice(0, 6)), error.message);
      const place = await loadError('{"keys": [\n  {"id": "x",}\n]}');
      assert.match(place.message, /not valid JSON at line 2, column \d+/);
      assert.match((await loadError('{"keys": [')).message, /ends too early/);
      assert.match((await loadError('')).message, /not valid JSON/);
    });

    it('names the entry (index and id) and the field', async () => {
      const wrongType = await loadError({ keys: [{ id: 'ok', key: KEY_A }, { id: 'team-b', key: KEY_B, burst: 'lots' }] });
      assert.match(wrongType.message, /keys\[1\]\.burst \(id "team-b"\): .*number/);
      const unknownField = await loadError({ keys: [{ id: 'team-a', key: KEY_A, request_per_second: 3 }] });
      assert.match(unknownField.message, /keys\[0\] \(id "team-a"\): unknown field "request_per_second"/);
      const badTask = await loadError({ keys: [{ id: 'a', key: KEY_A }, { id: 'b', key: KEY_B }, { id: 'c', key: KEY_C, tasks: ['classify', 'clasify'] }] });
      assert.match(badTask.message, /keys\[2\]\.tasks\[1\] \(id "c"\)/);
      const badPattern = await loadError({ keys: [{ id: 'a', key: KEY_A, models: ['cl*ip'] }] });
      assert.match(badPattern.message, /keys\[0\]\.models\[0\].*ends in one "\*"/);
      const negative = await loadError({ keys: [{ id: 'a', key: KEY_A, requests_per_second: 0 }] });
      assert.match(negative.message, /keys\[0\]\.requests_per_second/);
      const notAList = await loadError({ key: [] });
      assert.match(notAList.message, /keys: /);
    });

    it('needs exactly one of sha256 and key, each well formed, never quoting either', async () => {
      const both = await loadError({ keys: [{ id: 'a', key: KEY_A, sha256: hex(KEY_A) }] });
      assert.match(both.message, /keys\[0\] \(id "a"\): an entry needs "sha256" \(recommended\) or "key", not both/);
      assert.match((await loadError({ keys: [{ id: 'a' }] })).message, /keys\[0\] \(id "a"\): an entry needs/);
      // A plain key pasted into sha256 by mistake is not quoted back.
      const pasted = await loadError({ keys: [{ id: 'a', sha256: KEY_A }] });
      assert.match(pasted.message, /keys\[0\]\.sha256 \(id "a"\): sha256 is 64 hex digits: printf %s "\$KEY" \| sha256sum/);
      assert.ok(!pasted.message.includes(KEY_A));
      const short = await loadError({ keys: [{ id: 'a', key: 'short-secret' }] });
      assert.match(short.message, /keys\[0\]\.key \(id "a"\): a plain key is 16 to/);
      assert.ok(!short.message.includes('short-secret'));
      // Nor is a key pasted into the id field.
      const inId = await loadError({ keys: [{ id: `${KEY_A} `, key: KEY_B }] });
      assert.match(inId.message, /keys\[0\]\.id: /);
      assert.ok(!inId.message.includes(KEY_A));
    });

    it('refuses two entries with one id or one key', async () => {
      const sameId = await loadError({ keys: [{ id: 'a', key: KEY_A }, { id: 'a', key: KEY_B }] });
      assert.match(sameId.message, /keys\[1\]: id "a" is already used by keys\[0\]/);
      const sameKey = await loadError({ keys: [{ id: 'a', key: KEY_A }, { id: 'b', sha256: hex(KEY_A).toUpperCase() }] });
      assert.match(sameKey.message, /keys\[1\] \("b"\): the same key as keys\[0\] \("a"\)/);
      const file = await keysFile({ keys: [{ id: 'a', key: KEY_A }] });
      await assert.rejects(ApiKeyStore.load({ file, envKeys: KEY_A, defaults: {} }), /keys\[0\] \("a"\): the same key as MMS_API_KEYS key 1/);
    });

    it('refuses a malformed env key without quoting it, and a missing file', async () => {
      await assert.rejects(ApiKeyStore.load({ envKeys: `${KEY_A},tiny`, defaults: {} }), (error: Error) => {
        assert.match(error.message, /MMS_API_KEYS key 2 \(of 2\): a plain key is 16 to/);
        assert.ok(!error.message.includes('tiny'));
        return true;
      });
      await assert.rejects(ApiKeyStore.load({ file: path.join(dir, 'absent.json'), defaults: {} }), /cannot read API keys file .*absent\.json/);
    });
  });

  describe('reloading', () => {
    it('reload() picks up a changed file; a bad edit throws and keeps the old keys', async () => {
      const file = await keysFile({ keys: [{ id: 'a', key: KEY_A }] });
      const store = await ApiKeyStore.load({ file, envKeys: ENV_KEY, defaults: {} });
      await replaceFile(file, { keys: [{ id: 'b', sha256: hex(KEY_B) }] });
      assert.deepEqual(await store.reload(), { keys: 2 });
      assert.equal(store.authenticate(KEY_B).id, 'b');
      unauthorized(() => store.authenticate(KEY_A));
      assert.ok(store.authenticate(ENV_KEY).id.startsWith('env-'), 'env keys stay');

      await replaceFile(file, { keys: [{ id: 'c', key: KEY_C, burst: -1 }] });
      await assert.rejects(store.reload(), /keys\[0\]\.burst \(id "c"\)/);
      assert.equal(store.authenticate(KEY_B).id, 'b', 'the old keys stay');
      unauthorized(() => store.authenticate(KEY_C));
    });

    it('watch() reloads when the file is replaced, keeps the old keys on a bad edit, and stops', async () => {
      const file = await keysFile({ keys: [{ id: 'a', key: KEY_A }] });
      const { logger, lines } = capturingLogger();
      const store = await ApiKeyStore.load({ file, defaults: {}, logger, debounceMs: 20 });
      const results: ReloadResult[] = [];
      let wake: (() => void) | undefined;
      const stop = store.watch((result) => {
        results.push(result);
        wake?.();
      });
      /** The next reload result, or a failure after 5 s. */
      const nextReload = (): Promise<ReloadResult> =>
        new Promise((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error('no reload within 5 s')), 5000);
          wake = () => {
            clearTimeout(timer);
            wake = undefined;
            resolve(results.at(-1)!);
          };
        });
      try {
        let reloaded = nextReload();
        await replaceFile(file, { keys: [{ id: 'b', key: KEY_B }, { id: 'c', sha256: hex(KEY_C) }] });
        assert.deepEqual(await reloaded, { ok: true, keys: 2 });
        assert.equal(store.authenticate(KEY_B).id, 'b');
        assert.equal(store.authenticate(KEY_C).id, 'c');
        unauthorized(() => store.authenticate(KEY_A));
        assert.ok(lines.some((line) => line.includes('API keys reloaded')));

        reloaded = nextReload();
        await replaceFile(file, `{"keys": [{"id": "d", "key": "${KEY_A}", "tasks": ["nope"]}]}`);
        const bad = await reloaded;
        assert.equal(bad.ok, false);
        assert.match(!bad.ok ? bad.error.message : '', /keys\[0\]\.tasks\[0\] \(id "d"\)/);
        assert.equal(store.authenticate(KEY_B).id, 'b', 'the old keys stay');
        unauthorized(() => store.authenticate(KEY_A));
        const warning = lines.find((line) => line.includes('not reloaded'));
        assert.ok(warning, 'a bad edit is logged');
        assert.ok(!warning.includes(KEY_A), 'the log does not quote the file');

        // Writing the file in place (no rename) is seen too.
        reloaded = nextReload();
        await writeFile(file, JSON.stringify({ keys: [{ id: 'a2', key: KEY_A }] }));
        assert.deepEqual(await reloaded, { ok: true, keys: 1 });
        assert.equal(store.authenticate(KEY_A).id, 'a2');
      } finally {
        stop();
      }
      const seen = results.length;
      await replaceFile(file, { keys: [{ id: 'late', key: KEY_B }] });
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(results.length, seen, 'no reload after stop');
      unauthorized(() => store.authenticate(KEY_B));
    });

    it('watch() ignores events that leave the file as it was', async () => {
      const file = await keysFile({ keys: [{ id: 'a', key: KEY_A }] });
      const store = await ApiKeyStore.load({ file, defaults: {}, debounceMs: 20 });
      const results: ReloadResult[] = [];
      const stop = store.watch((result) => results.push(result));
      try {
        await writeFile(path.join(path.dirname(file), 'unrelated.txt'), 'x');
        await replaceFile(file, { keys: [{ id: 'a', key: KEY_A }] });
        await new Promise((resolve) => setTimeout(resolve, 200));
        assert.deepEqual(results, []);
      } finally {
        stop();
      }
    });

    it('watch() keeps the old keys while the file is gone, saying so once, and reloads it when it is back', async () => {
      const file = await keysFile({ keys: [{ id: 'a', key: KEY_A }] });
      const store = await ApiKeyStore.load({ file, defaults: {}, debounceMs: 20 });
      const results: ReloadResult[] = [];
      const stop = store.watch((result) => results.push(result));
      const settle = () => new Promise((resolve) => setTimeout(resolve, 200));
      try {
        await rm(file);
        await until(() => results.length > 0);
        await writeFile(path.join(path.dirname(file), 'unrelated.txt'), 'x');
        await settle();
        assert.equal(results.length, 1, 'one report, not one per event');
        assert.match(!results[0]!.ok ? results[0]!.error.message : '', /cannot read API keys file .*ENOENT/);
        assert.equal(store.authenticate(KEY_A).id, 'a');
        await writeFile(file, JSON.stringify({ keys: [{ id: 'a', key: KEY_A }] }));
        await until(() => results.length > 1);
        assert.deepEqual(results.at(-1), { ok: true, keys: 1 });
      } finally {
        stop();
      }
    });

    it('reload() and watch() without a file do nothing', async () => {
      const store = await ApiKeyStore.load({ envKeys: ENV_KEY, defaults: {} });
      assert.deepEqual(await store.reload(), { keys: 1 });
      store.watch(() => assert.fail('no file to watch'))();
    });
  });
});

describe('parseBearer', () => {
  const cases: Array<[string | undefined, string | undefined]> = [
    ['Bearer abc.DEF-123_~+/=', 'abc.DEF-123_~+/='],
    ['bearer key', 'key'],
    ['BEARER key', 'key'],
    ['Bearer    key', 'key'],
    ['  Bearer key  ', 'key'],
    [undefined, undefined],
    ['', undefined],
    ['Bearer', undefined],
    ['Bearer ', undefined],
    ['Bearer a b', undefined],
    ['Basic dXNlcjpwYXNz', undefined],
    ['key-without-scheme', undefined],
    ['Bearerkey', undefined],
    ['Bearer\tkey', undefined],
    ['Token key', undefined],
  ];
  for (const [header, expected] of cases) {
    it(`${JSON.stringify(header)} → ${JSON.stringify(expected)}`, () => assert.equal(parseBearer(header), expected));
  }
});
