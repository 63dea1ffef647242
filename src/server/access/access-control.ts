/**
 * Who may call, and how often: API keys (when configured) or the client's address, and a rate
 * slot per key or address, for every transport. Refusals are the table's `unauthorized` and
 * `rate_limited` (docs/architecture.md, "Errors"); `forbidden` comes later, once the task and
 * model are known (services/task-service.ts `runService`).
 */
import type { Logger } from 'pino';
import { realClock, type Clock } from '../../pipelines/clock.js';
import type { AccessSettings } from '../access-config.js';
import { ApiError } from '../../errors.js';
import { anonymousPrincipal, ApiKeyStore, parseBearer, type AccessTask, type Principal } from './api-keys.js';
import { clientKey, parseTrustedProxies, rateLimitKey } from './client-address.js';
import { RateLimiter } from './rate-limiter.js';

export interface CallerInfo {
  /** The `Authorization` header (HTTP) or metadata (gRPC). */
  authorization?: string;
  remoteAddress?: string;
  /** `X-Forwarded-For`, believed only from a trusted proxy. */
  forwardedFor?: string;
}

export interface Admitted {
  principal: Principal;
  /** Frees the caller's concurrency slot (idempotent). */
  release: () => void;
}

export class AccessControl {
  private constructor(
    private readonly settings: AccessSettings,
    private readonly keys: ApiKeyStore,
    private readonly limiter: RateLimiter,
    private readonly stopWatching: () => void,
  ) {}

  static async create(settings: AccessSettings, logger: Logger, clock: Clock = realClock): Promise<AccessControl> {
    parseTrustedProxies(settings.trustedProxies); // a bad entry stops start-up, named
    const keys = await ApiKeyStore.load({ file: settings.keysFile, envKeys: settings.envKeys, defaults: settings.limits, logger });
    // A changed keys file takes effect without a restart.
    const stop = settings.keysFile ? keys.watch() : () => {};
    if (keys.enabled) logger.info({ keys: keys.size, keys_file: settings.keysFile ?? null }, 'API keys required');
    return new AccessControl(settings, keys, new RateLimiter({ clock }), stop);
  }

  /** Paths served to anyone: exact, or under a prefix that ends in `/`. */
  isOpen(path: string): boolean {
    return this.settings.openPaths.some((open) => (open.endsWith('/') && open.length > 1 ? path.startsWith(open) || path === open.slice(0, -1) : path === open));
  }

  /** The caller's principal and a rate slot; throws `unauthorized` or `rate_limited`. */
  admit(caller: CallerInfo): Admitted {
    if (this.keys.enabled) {
      const principal = this.keys.authenticate(parseBearer(caller.authorization));
      return { principal, release: this.limiter.acquire(`key:${principal.id}`, principal.limits) };
    }
    const client = rateLimitKey(clientKey(caller.remoteAddress, caller.forwardedFor, this.settings.trustedProxies));
    const principal = anonymousPrincipal(client, this.settings.limits);
    return { principal, release: this.limiter.acquire(`client:${client}`, principal.limits) };
  }

  close(): void {
    this.stopWatching();
  }
}

/**
 * The caller's API key, when it came with one: the stand-in for a client address when keys are
 * off may use everything, and its id (one per client) is never a label.
 */
export function keyOf(principal: Principal | undefined): Principal | undefined {
  return principal && !principal.anonymous ? principal : undefined;
}

/** Throws `forbidden` unless the caller's key allows the task (no key, or keys off: allowed). */
export function requireTask(principal: Principal | undefined, task: AccessTask): void {
  const key = keyOf(principal);
  if (key && !key.allowsTask(task)) throw new ApiError('forbidden', `key '${key.id}' may not use ${task}`);
}

/** Which models a caller sees listed: its key's (no key, or keys off: all of them). */
export function modelsShownTo(principal: Principal | undefined): (modelId: string) => boolean {
  const key = keyOf(principal);
  return key ? (modelId) => key.allowsModel(modelId) : () => true;
}

/** The key id to count a request under: a configured key's (client addresses are never labels). */
export function keyIdOf(principal: Principal | undefined): string | undefined {
  return keyOf(principal)?.id;
}
