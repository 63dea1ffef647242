#!/usr/bin/env node
// Copies the files tsc does not emit (the playground's HTML, CSS, JS and sample photos) into a
// compiled build. Usage: node scripts/copy-static.mjs [outDir, default dist]
import { cpSync } from 'node:fs';
import path from 'node:path';

const outDir = process.argv[2] ?? 'dist';
cpSync('src/server/playground', path.join(outDir, 'src', 'server', 'playground'), { recursive: true });
