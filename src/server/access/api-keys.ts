/**
 * The API key store: keys from the keys file (`MMS_API_KEYS_FILE` / `auth.keys_file`) and the
 * `MMS_API_KEYS` environment variable (key-sources.ts), checked by digest, reloaded when the file
 * changes. Refusals are `ApiError('unauthorized')` (the error table: docs/architecture.md,
 * "Errors"); the transports map them to 401 / UNAUTHENTICATED.
 *
 * Only sha256 digests are kept in memory; a presented key is hashed, never stored or echoed.
 */
import { timingSafeEqual } from 'node:crypto';
import { watch as watchFs, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ApiError } from '../../errors.js';
import { parseEnvKeys, parseKeyFile, assertDistinct, sha256, type StoredKey } from './key-sources.js';
import type { Limits, Principal } from './principal.js';

export { ACCESS_TASKS, anonymousPrincipal, type AccessTask, type Limits, type Principal } from './principal.js';
export { MIN_PLAIN_KEY_LENGTH } from './key-sources.js';

export interface ApiKeyStoreOptions {
  /** The keys file (JSON `{"keys": [...]}`). */
  file?: string;
  /** `MMS_API_KEYS`: comma-separated plain keys. */
  envKeys?: string;
  /** The limits of env keys and of file entries that leave a limit out. */
  defaults: Limits;
  /** Where `watch` reports reloads and bad edits. */
  logger?: Pick<Logger, 'info' | 'warn'>;
  /** How long `watch` waits for a burst of file events to settle (default 100 ms). */
  debounceMs?: number;
}

export type ReloadResult = { ok: true; keys: number } | { ok: false; error: Error };

export class ApiKeyStore {
  private keys: readonly StoredKey[];
  /** sha256 of the file text last read (or why it could not be read), so `watch` skips events that changed nothing. */
  private seenFileDigest: string | undefined;

  private constructor(
    private readonly options: ApiKeyStoreOptions & { file: string | undefined },
    private readonly envKeys: readonly StoredKey[],
    fileKeys: readonly StoredKey[],
  ) {
    this.keys = [...envKeys, ...fileKeys];
  }

  /** Reads the file and the environment; throws an Error naming the bad entry and field. */
  static async load(options: ApiKeyStoreOptions): Promise<ApiKeyStore> {
    const file = options.file ? path.resolve(options.file) : undefined;
    const envKeys = parseEnvKeys(options.envKeys, options.defaults);
    const store = new ApiKeyStore({ ...options, file }, envKeys, []);
    if (file) store.keys = await store.readKeys(file);
    return store;
  }

  /**
   * Whether requests must present a key: a keys file or env keys are configured. A keys file
   * with an empty list refuses everyone (fails closed) rather than letting everyone in.
   */
  get enabled(): boolean {
    return this.options.file !== undefined || this.envKeys.length > 0;
  }

  /** Keys configured now (file and environment). */
  get size(): number {
    return this.keys.length;
  }

  /** The principal of the presented key; `unauthorized` when it is missing or matches no key. */
  authenticate(presented: string | undefined): Principal {
    if (presented === undefined || presented === '') {
      throw new ApiError('unauthorized', 'an API key is required: send it as "Authorization: Bearer <key>"');
    }
    const digest = sha256(presented);
    // Every stored digest is compared, in constant time and without stopping at a match, so the
    // time taken says nothing about which key (or how much of a digest) matched. A Map lookup by
    // hex digest would also be safe (the digest of a guess reveals nothing about a key), but
    // the scan costs microseconds for the tens of keys a server has and needs no argument.
    // Digests are distinct (assertDistinct), so at most one matches.
    let match: StoredKey | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(key.digest, digest)) match = key;
    }
    if (!match) throw new ApiError('unauthorized', 'the API key is not valid');
    return match.principal;
  }

  /**
   * Re-reads the keys file (the env keys stay). On a bad file the old keys stay and the error
   * is thrown. Without a file there is nothing to re-read.
   */
  async reload(): Promise<{ keys: number }> {
    if (this.options.file) this.keys = await this.readKeys(this.options.file);
    return { keys: this.keys.length };
  }

  /**
   * Reloads when the file changes; returns the function that stops watching. The directory is
   * watched, not the file: editors save by writing a new file and renaming it over the old one,
   * and Kubernetes swaps a symlinked folder, both of which a watch on the file itself misses.
   * Events are debounced, and a reload happens only when the file's text changed. Results go to
   * `onReload` and the logger (a bad edit: a warning; the old keys stay).
   */
  watch(onReload?: (result: ReloadResult) => void): () => void {
    const file = this.options.file;
    if (!file) return () => {};
    const debounceMs = this.options.debounceMs ?? 100;
    let timer: NodeJS.Timeout | undefined;
    let stopped = false;
    let running: Promise<void> = Promise.resolve();

    const check = async (): Promise<void> => {
      let text: string;
      try {
        text = await readFile(file, 'utf8');
      } catch (error) {
        // A missing file (deleted, or caught mid-save: the next event reads it again) keeps the old
        // keys; said once per kind of failure, not on every event in the folder.
        const failure = `unreadable: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
        if (failure === this.seenFileDigest || stopped) return;
        this.seenFileDigest = failure;
        return report({ ok: false, error: new Error(`cannot read API keys file ${file}: ${(error as Error).message}`) });
      }
      const digest = sha256(text).toString('hex');
      if (digest === this.seenFileDigest || stopped) return;
      this.seenFileDigest = digest;
      try {
        this.keys = this.keysOf(text, file);
        report({ ok: true, keys: this.keys.length });
      } catch (error) {
        report({ ok: false, error: error as Error });
      }
    };
    const report = (result: ReloadResult): void => {
      if (stopped) return;
      if (result.ok) this.options.logger?.info({ keys: result.keys, file }, 'API keys reloaded');
      else this.options.logger?.warn({ file, err: result.error.message }, 'API keys file not reloaded; the old keys stay');
      onReload?.(result);
    };
    const schedule = (): void => {
      if (stopped) return;
      clearTimeout(timer);
      timer = setTimeout(() => {
        // One check at a time, in order, so an older read never lands after a newer one.
        running = running
          .then(check)
          .catch((error: Error) => this.options.logger?.warn({ file, err: error.message }, 'the API keys reload callback failed'));
      }, debounceMs);
      timer.unref();
    };

    let watcher: FSWatcher | undefined;
    try {
      // Not persistent: the watch alone must not keep the process alive.
      watcher = watchFs(path.dirname(file), { persistent: false }, schedule);
      watcher.on('error', (error) => this.options.logger?.warn({ file, err: error.message }, 'watching the API keys file failed'));
    } catch (error) {
      this.options.logger?.warn({ file, err: (error as Error).message }, 'cannot watch the API keys file; it is not reloaded');
    }
    return () => {
      stopped = true;
      clearTimeout(timer);
      watcher?.close();
    };
  }

  private async readKeys(file: string): Promise<StoredKey[]> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new Error(`cannot read API keys file ${file}: ${(error as Error).message}`);
    }
    const keys = this.keysOf(text, file);
    this.seenFileDigest = sha256(text).toString('hex');
    return keys;
  }

  /** The env keys and the file's, checked together (an env key repeated in the file is refused). */
  private keysOf(text: string, file: string): StoredKey[] {
    const keys = [...this.envKeys, ...parseKeyFile(text, file, this.options.defaults)];
    assertDistinct(keys);
    return keys;
  }
}

/**
 * The key of an `Authorization: Bearer <key>` header: the scheme in any case, one or more spaces,
 * then a key without whitespace. Anything else (another scheme, no key, two words) is undefined.
 */
export function parseBearer(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const match = /^bearer +(\S+)$/i.exec(header.trim());
  return match?.[1];
}
