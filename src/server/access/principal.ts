/**
 * Who a request acts for once it is authenticated: a key id that is safe to log, what it may
 * reach (models, tasks) and its limits. The key store (api-keys.ts) makes one per configured key;
 * `anonymousPrincipal` stands in for a client address when no keys are configured.
 */

/** The access-control names of the tasks: what a key file's `tasks` lists (one per public route family). */
export const ACCESS_TASKS = ['classify', 'zero-shot', 'embeddings', 'caption', 'chat', 'attention', 'localize', 'alignments'] as const;

export type AccessTask = (typeof ACCESS_TASKS)[number];

/** Per-principal limits (rate-limiter.ts); an unset field is unlimited. */
export interface Limits {
  /** Token refill rate, in requests per second. */
  requestsPerSecond?: number;
  /** Bucket capacity: requests allowed back to back; default max(1, requestsPerSecond). */
  burst?: number;
  /** Requests in flight at once. */
  maxConcurrent?: number;
}

export interface Principal {
  /** The key id (or `anonymous:<client address>`): safe to log, never the key itself. */
  readonly id: string;
  /**
   * True for the stand-in of a client address when keys are off. Its id takes one value per
   * client, so it must not become a metric label.
   */
  readonly anonymous: boolean;
  readonly limits: Readonly<Limits>;
  /** Whether the principal may use this served model id (a variant such as `vit:q8` is an id of its own). */
  allowsModel(modelId: string): boolean;
  allowsTask(task: string): boolean;
}

/** What a principal may reach: undefined = everything. */
export interface Grants {
  /** Exact model ids, or prefixes ending in `*` (`clip-*`; `*` alone is every model). */
  models?: readonly string[];
  tasks?: readonly string[];
}

/** A model pattern: an exact id, or one `*` at the end and nowhere else. */
export const MODEL_PATTERN = /^[^*]*\*?$/;

export function createPrincipal(id: string, grants: Grants, limits: Limits, anonymous = false): Principal {
  const modelMatcher = grants.models ? matchModels(grants.models) : () => true;
  const tasks = grants.tasks ? new Set(grants.tasks) : undefined;
  return Object.freeze({
    id,
    anonymous,
    limits: Object.freeze({ ...limits }),
    allowsModel: modelMatcher,
    allowsTask: (task: string) => tasks === undefined || tasks.has(task),
  });
}

/** The principal of a client when API keys are off: every model and task, the given limits, keyed by its address. */
export function anonymousPrincipal(clientKey: string, limits: Limits): Principal {
  // Key ids cannot contain ':' (api-key-file.ts), so this id never collides with a key's.
  return createPrincipal(`anonymous:${clientKey}`, {}, limits, true);
}

function matchModels(patterns: readonly string[]): (modelId: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.endsWith('*')));
  const prefixes = patterns.filter((p) => p.endsWith('*')).map((p) => p.slice(0, -1));
  return (modelId) => exact.has(modelId) || prefixes.some((prefix) => modelId.startsWith(prefix));
}
