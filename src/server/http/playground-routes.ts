/**
 * The web playground: `GET /` is its page, `/playground/*` its scripts, styles and sample photos
 * (`src/server/playground/`, plain browser files served as they are: no build step). Every
 * answer carries a strict Content-Security-Policy: scripts and styles from this origin only, no
 * inline code, images also from `data:` and `blob:` (the maps the page gets from the API).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Response, type Router } from 'express';

export const PLAYGROUND_CSP = [
  "default-src 'self'",
  "img-src 'self' data: blob:",
  "script-src 'self'",
  "style-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const INDEX = 'index.html';

/**
 * The playground's folder, from the sources (`src/server/http/` → `../playground`) and from the
 * compiled build (`dist/src/server/http/`: tsc copies no static files, so the repository's
 * `src/server/playground/` above it); undefined where neither exists (a build shipped without it).
 */
export function playgroundDir(from = path.dirname(fileURLToPath(import.meta.url))): string | undefined {
  const sibling = path.resolve(from, '..', 'playground');
  if (existsSync(path.join(sibling, INDEX))) return sibling;
  for (let dir = from; ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, 'src', 'server', 'playground');
    if (existsSync(path.join(candidate, INDEX))) return candidate;
    if (path.dirname(dir) === dir) return undefined;
  }
}

function securityHeaders(res: Response): void {
  res.setHeader('Content-Security-Policy', PLAYGROUND_CSP);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('Referrer-Policy', 'no-referrer');
  res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
}

/**
 * Page, scripts and styles are revalidated on every load (`no-cache` + ETag: a 304 costs one
 * round trip), since their names carry no version and an upgraded server must not run old
 * scripts; the sample photos never change and are cached for a day.
 */
function cacheControl(file: string): string {
  return file.includes(`${path.sep}samples${path.sep}`) ? 'public, max-age=86400' : 'no-cache';
}

export function playgroundRoutes(dir = playgroundDir()): Router {
  const router = express.Router();
  if (!dir) return router;
  const staticOptions = {
    index: false,
    dotfiles: 'ignore' as const,
    setHeaders: (res: Response, file: string) => {
      securityHeaders(res);
      res.setHeader('Cache-Control', cacheControl(file));
    },
  };
  router.get('/', (_req, res, next) => {
    securityHeaders(res);
    res.setHeader('Cache-Control', 'no-cache');
    res.sendFile(INDEX, { root: dir, headers: { 'Content-Type': 'text/html; charset=utf-8' } }, (error) => error && next(error));
  });
  router.use('/playground', express.static(dir, staticOptions));
  return router;
}
