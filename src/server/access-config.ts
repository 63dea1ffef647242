/**
 * Access settings (environment > config file > defaults): API keys, request rates per key (or per
 * client address without keys), which paths stay open, and image-URL fetching. What they do is
 * in the README ("Access control" and "Image URLs").
 */
import type { Limits } from './access/principal.js';
import type { ConfigFile } from './config-file.js';
import { boolFrom, floatFrom, intFrom } from './config-values.js';

export interface AccessSettings {
  /** Plain keys from `MMS_API_KEYS` (comma-separated). */
  envKeys?: string;
  keysFile?: string;
  /** Paths served without a key (exact, or a prefix ending in `/`). */
  openPaths: string[];
  /** Defaults for every key (a key's own entry may set its own), and per client address without keys. */
  limits: Limits;
  /** Proxies whose X-Forwarded-For is believed (CIDRs). */
  trustedProxies: string[];
}

export interface ImageUrlSettings {
  enabled: boolean;
  allowHosts: string[];
  denyHosts: string[];
  /** Address ranges fetched although private (an internal image host; tests). */
  allowAddresses: string[];
  maxRedirects: number;
  timeoutMs: number;
}

/** Probes and metrics, and the pages (the playground, the API docs) that ask for a key themselves. */
const DEFAULT_OPEN_PATHS = ['/healthz', '/readyz', '/metrics', '/', '/playground/', '/docs/', '/openapi.json'];

const listFrom = (value: string | undefined) => (value === undefined ? undefined : value.split(',').map((item) => item.trim()).filter(Boolean));
const pick = <T>(...candidates: (T | undefined)[]): T | undefined => candidates.find((c) => c !== undefined);

export function accessFrom(env: NodeJS.ProcessEnv, file: NonNullable<ConfigFile['auth']>): AccessSettings {
  return {
    envKeys: env.MMS_API_KEYS || undefined,
    keysFile: pick(env.MMS_API_KEYS_FILE || undefined, file.keys_file),
    openPaths: pick(listFrom(env.MMS_OPEN_PATHS), file.open_paths) ?? DEFAULT_OPEN_PATHS,
    limits: {
      requestsPerSecond: pick(floatFrom(env.MMS_RATE_LIMIT_RPS, 'MMS_RATE_LIMIT_RPS'), file.requests_per_second),
      burst: pick(intFrom(env.MMS_RATE_LIMIT_BURST, 'MMS_RATE_LIMIT_BURST', 1), file.burst),
      maxConcurrent: pick(intFrom(env.MMS_MAX_CONCURRENT_PER_KEY, 'MMS_MAX_CONCURRENT_PER_KEY', 1), file.max_concurrent),
    },
    trustedProxies: pick(listFrom(env.MMS_TRUSTED_PROXIES), file.trusted_proxies) ?? [],
  };
}

export function imageUrlsFrom(env: NodeJS.ProcessEnv, file: NonNullable<ConfigFile['image_urls']>): ImageUrlSettings {
  return {
    enabled: pick(boolFrom(env.MMS_IMAGE_URLS, 'MMS_IMAGE_URLS'), file.enabled) ?? false,
    allowHosts: pick(listFrom(env.MMS_IMAGE_URL_ALLOW_HOSTS), file.allow_hosts) ?? [],
    denyHosts: pick(listFrom(env.MMS_IMAGE_URL_DENY_HOSTS), file.deny_hosts) ?? [],
    allowAddresses: file.allow_addresses ?? [],
    maxRedirects: file.max_redirects ?? 3,
    timeoutMs: pick(intFrom(env.MMS_IMAGE_URL_TIMEOUT_MS, 'MMS_IMAGE_URL_TIMEOUT_MS', 100), file.timeout_ms) ?? 10_000,
  };
}
