/** `npm run build:dashboard`: writes deploy/grafana/dashboard.json from dashboard.ts. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDashboard } from './dashboard.js';

export const DASHBOARD_JSON = path.join(import.meta.dirname, 'dashboard.json');

if (process.argv[1] === import.meta.filename) {
  await writeFile(DASHBOARD_JSON, `${JSON.stringify(buildDashboard(), null, 2)}\n`);
  console.log(`wrote ${DASHBOARD_JSON}`);
}
