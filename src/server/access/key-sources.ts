/**
 * Where API keys come from: the keys file (strict zod schema, snake_case like the config file)
 * and the `MMS_API_KEYS` environment variable. Both become `StoredKey`s: the sha256 digest of
 * the key and its principal. A plain key is hashed here and dropped; no error message quotes a
 * key or the file's text (the JSON parser's own messages can, so they are replaced).
 *
 * Make the recommended at-rest form of a key with `printf %s "$KEY" | sha256sum`.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { ACCESS_TASKS, MODEL_PATTERN, createPrincipal, type Limits, type Principal } from './principal.js';

/** Shortest plain key accepted: shorter ones can be guessed. */
export const MIN_PLAIN_KEY_LENGTH = 16;
const MAX_PLAIN_KEY_LENGTH = 4096;

export interface StoredKey {
  /** sha256 of the key's UTF-8 bytes, 32 bytes. */
  digest: Buffer;
  principal: Principal;
  /** Where it was configured, for messages: `keys[2]`, `MMS_API_KEYS key 1`. */
  origin: string;
}

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/** Ids are logged and used as rate-limit keys: no ':' (anonymous ids use it), nothing to escape. */
const KEY_ID = /^[A-Za-z0-9][\w.-]{0,63}$/;

/** A key as a client sends it in `Authorization: Bearer <key>`: visible ASCII, no spaces. */
function isPlainKeyShaped(key: string): boolean {
  return key.length >= MIN_PLAIN_KEY_LENGTH && key.length <= MAX_PLAIN_KEY_LENGTH && /^[\x21-\x7e]+$/.test(key);
}
const PLAIN_KEY_RULE = `a plain key is ${MIN_PLAIN_KEY_LENGTH} to ${MAX_PLAIN_KEY_LENGTH} visible ASCII characters, no spaces`;

/** null: unlimited for this key even when the server's defaults set a limit. */
const optionalLimit = <T extends z.ZodNumber>(schema: T) => schema.nullable().optional();

const keyEntrySchema = z
  .strictObject({
    id: z.string().regex(KEY_ID, 'an id is 1 to 64 letters, digits, "_", "." or "-", starting with a letter or digit'),
    sha256: z
      .string()
      .regex(/^[0-9a-fA-F]{64}$/, 'sha256 is 64 hex digits: printf %s "$KEY" | sha256sum')
      .optional(),
    key: z.string().refine(isPlainKeyShaped, PLAIN_KEY_RULE).optional(),
    models: z
      .array(z.string().min(1).regex(MODEL_PATTERN, 'a model pattern is an exact id or ends in one "*" (clip-*)'))
      .min(1, 'omit "models" to allow every model')
      .optional(),
    tasks: z.array(z.enum(ACCESS_TASKS)).min(1, 'omit "tasks" to allow every task').optional(),
    requests_per_second: optionalLimit(z.number().positive().max(1e6)),
    burst: optionalLimit(z.number().int().min(1).max(1e6)),
    max_concurrent: optionalLimit(z.number().int().min(1).max(1e6)),
  })
  .refine((entry) => (entry.sha256 === undefined) !== (entry.key === undefined), {
    message: 'an entry needs "sha256" (recommended) or "key", not both',
  });

const keyFileSchema = z.strictObject({ keys: z.array(keyEntrySchema) });

type KeyEntry = z.infer<typeof keyEntrySchema>;

/** Parses a keys file's text into stored keys; throws an Error naming the file, the entry and the field. */
export function parseKeyFile(text: string, file: string, defaults: Limits): StoredKey[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new Error(`API keys file ${file}: not valid JSON${jsonErrorPlace(text, error)}`);
  }
  const parsed = keyFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => describeIssue(issue, raw));
    throw new Error(`API keys file ${file}: ${problems.join('; ')}`);
  }
  const keys = parsed.data.keys.map((entry, index) => storedKeyOf(entry, `keys[${index}]`, defaults));
  assertDistinct(keys);
  return keys;
}

/**
 * `MMS_API_KEYS`: comma-separated plain keys, each with every model and task and the default
 * limits, named `env-` + the first 8 hex digits of its sha256.
 */
export function parseEnvKeys(value: string | undefined, defaults: Limits): StoredKey[] {
  const keys = (value ?? '').split(',').map((key) => key.trim()).filter((key) => key !== '');
  const stored = keys.map((key, index) => {
    const origin = `MMS_API_KEYS key ${index + 1}`;
    if (!isPlainKeyShaped(key)) throw new Error(`${origin} (of ${keys.length}): ${PLAIN_KEY_RULE}`);
    const digest = sha256(key);
    return { digest, origin, principal: createPrincipal(`env-${digest.toString('hex').slice(0, 8)}`, {}, defaults) };
  });
  assertDistinct(stored);
  return stored;
}

/** Refuses two entries with one id (their limits would be merged) or one key (which would it be?). */
export function assertDistinct(keys: readonly StoredKey[]): void {
  const byId = new Map<string, StoredKey>();
  const byDigest = new Map<string, StoredKey>();
  for (const key of keys) {
    const sameId = byId.get(key.principal.id);
    if (sameId) throw new Error(`${key.origin}: id "${key.principal.id}" is already used by ${sameId.origin}`);
    const hex = key.digest.toString('hex');
    const sameKey = byDigest.get(hex);
    if (sameKey) throw new Error(`${key.origin} ("${key.principal.id}"): the same key as ${sameKey.origin} ("${sameKey.principal.id}")`);
    byId.set(key.principal.id, key);
    byDigest.set(hex, key);
  }
}

function storedKeyOf(entry: KeyEntry, origin: string, defaults: Limits): StoredKey {
  const digest = entry.sha256 !== undefined ? Buffer.from(entry.sha256, 'hex') : sha256(entry.key!);
  const limits: Limits = {
    requestsPerSecond: limitOf(entry.requests_per_second, defaults.requestsPerSecond),
    burst: limitOf(entry.burst, defaults.burst),
    maxConcurrent: limitOf(entry.max_concurrent, defaults.maxConcurrent),
  };
  return { digest, origin, principal: createPrincipal(entry.id, { models: entry.models, tasks: entry.tasks }, limits) };
}

/** The entry's value, else the default; null switches the limit off. */
function limitOf(value: number | null | undefined, fallback: number | undefined): number | undefined {
  if (value === null) return undefined;
  return value ?? fallback;
}

/** `keys[1].burst (id "team-b"): Too small: ...`, naming the entry by its index and, when readable, its id. */
function describeIssue(issue: z.core.$ZodIssue, raw: unknown): string {
  let where = '';
  for (const part of issue.path) where += typeof part === 'number' ? `[${part}]` : `${where ? '.' : ''}${String(part)}`;
  const index = issue.path[0] === 'keys' && typeof issue.path[1] === 'number' ? issue.path[1] : undefined;
  const id = index === undefined ? undefined : idAt(raw, index);
  const named = id === undefined ? '' : ` (id "${id}")`;
  const message = issue.code === 'unrecognized_keys' ? `unknown field${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')}` : issue.message;
  return `${where || 'the top level'}${named}: ${message}`;
}

/** The id of entry `index` if it is a well-formed id (an id field holding a pasted key is not quoted back). */
function idAt(raw: unknown, index: number): string | undefined {
  const keys = (raw as { keys?: unknown })?.keys;
  const entry = Array.isArray(keys) ? (keys[index] as { id?: unknown } | undefined) : undefined;
  const id = entry && typeof entry === 'object' ? entry.id : undefined;
  return typeof id === 'string' && KEY_ID.test(id) ? id : undefined;
}

/** ` at line L, column C` when the parser gave a position; its message itself can quote the text, so it is dropped. */
function jsonErrorPlace(text: string, error: unknown): string {
  const position = /at position (\d+)/.exec((error as Error).message ?? '')?.[1];
  if (position === undefined) return /end of JSON input/.test((error as Error).message ?? '') ? ' (it ends too early)' : '';
  const before = text.slice(0, Number(position)).split('\n');
  return ` at line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
