/**
 * `npm run models -- verify <id> [--write]` (online): reads from the Hub what the catalog could
 * not know offline — the commit the revision points to, each file's sha256, and which variant
 * files the repo ships — and with --write pins them into models/catalog.json.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { defaultCatalogPath, type CatalogEntry, type CatalogFile } from '../models/catalog/catalog.js';
import { downloadFile, fetchFileMetadata, hashFile, HubError } from '../models/hub/index.js';
import type { HubSettings } from './config.js';

interface FileFacts {
  path: string;
  present: boolean;
  sha256?: string;
  commit?: string;
}

/** The sha256 of one repo file: the LFS etag, else (small git files) the hash of its bytes. */
async function factsOf(entry: CatalogEntry, file: CatalogFile, hub: HubSettings): Promise<FileFacts> {
  const where = { endpoint: hub.endpoint, token: hub.token, repo: entry.repo, revision: entry.revision, path: file.path };
  try {
    const meta = await fetchFileMetadata(where);
    if (meta.lfs) return { path: file.path, present: true, sha256: meta.etag, commit: meta.commit };
    const downloaded = await downloadFile({ ...where, cacheDir: hub.cacheDir });
    return { path: file.path, present: true, sha256: await hashFile(downloaded.blobPath, 'sha256'), commit: meta.commit };
  } catch (error) {
    if (error instanceof HubError && error.kind === 'not_found' && error.errorCode === 'EntryNotFound') {
      return { path: file.path, present: false };
    }
    throw error;
  }
}

export async function verifyEntry(
  entry: CatalogEntry,
  hub: HubSettings,
  options: { write: boolean; catalogPath?: string | undefined },
): Promise<string[]> {
  const report: string[] = [];
  const shared = await Promise.all(entry.files.map((f) => factsOf(entry, f, hub)));
  const variants = Object.fromEntries(
    await Promise.all(Object.entries(entry.variants).map(async ([name, files]) => [name, await Promise.all(files.map((f) => factsOf(entry, f, hub)))] as const)),
  ) as Record<string, FileFacts[]>;
  const all = [...shared, ...Object.values(variants).flat()];
  const commits = new Set(all.filter((f) => f.present).map((f) => f.commit));
  if (commits.size !== 1) throw new Error(`the Hub answered several commits for ${entry.repo}@${entry.revision}: ${[...commits].join(', ')}`);
  const [commit] = [...commits] as string[];
  report.push(`${entry.repo}@${entry.revision} is commit ${commit}`);
  for (const missing of shared.filter((f) => !f.present)) throw new Error(`${entry.repo} has no ${missing.path}: the catalog entry is wrong`);
  for (const f of all) report.push(`  ${f.path}: ${f.present ? `sha256 ${f.sha256}` : 'not in the repo'}`);
  const shipped = Object.entries(variants).filter(([, files]) => files.every((f) => f.present)).map(([name]) => name);
  report.push(`variants shipped: ${shipped.join(', ') || 'none'}`);

  if (options.write) {
    const file = options.catalogPath ?? defaultCatalogPath();
    const json = JSON.parse(await readFile(file, 'utf8')) as { models: Record<string, unknown>[] };
    const target = json.models.find((m) => m.id === entry.id)!;
    const pin = (facts: FileFacts[]) => facts.map((f) => ({ path: f.path, sha256: f.sha256 ?? null }));
    target.revision = commit;
    target.files = pin(shared);
    target.variants = Object.fromEntries(shipped.map((name) => [name, pin(variants[name]!)]));
    target.unverified = [];
    await writeFile(file, `${JSON.stringify(json, null, 2)}\n`);
    report.push(`wrote ${file}: revision pinned to ${commit}, sha256s filled, variants ${shipped.join(', ')}`);
  }
  return report;
}
