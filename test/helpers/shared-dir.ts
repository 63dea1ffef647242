import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The read-only ../shared folder (real photos, real CLIP configs); SHARED_DIR overrides it. */
export function sharedDir(): string {
  const dir = process.env.SHARED_DIR ?? path.resolve(repoRoot, '..', 'shared');
  if (!existsSync(dir)) {
    throw new Error(`shared test data not found at ${dir}: clone next to ../shared or set SHARED_DIR`);
  }
  return dir;
}

export type SharedImageName = 'chelsea.png' | 'coffee.png' | 'astronaut.png' | 'rocket.jpg';

export function sharedImage(name: SharedImageName): string {
  return path.join(sharedDir(), 'images', name);
}

export const SHARED_PHOTOS = ['chelsea.png', 'coffee.png', 'astronaut.png', 'rocket.jpg'] as const;
