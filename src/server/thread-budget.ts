/**
 * One thread budget for the whole server: the sum of intra-op threads over all session
 * workers stays within the cores unless the configuration says otherwise.
 *
 * Default layout: one worker per model with all of the model's share of the cores. Measured
 * with `npm run bench` (ViT-B/16 fp32, 2 cores): 1 × 2 reached 7.1 img/s against 6.7 for 2 × 1
 * and halves the latency of a lone request (153 vs 301 ms); on other machines (docs/architecture.md, "Measured facts")
 * 2 × 1 was ahead by ~6% in throughput. The throughput gap is small either way, the latency gap
 * is not, so one worker it is; `--instances` / `--threads` change it, and a layout tuning kept
 * for this machine (`--tune`, src/server/layout-tunings.ts) replaces the plan.
 */

export interface Layout {
  instances: number;
  intraOpThreads: number;
}

export interface LayoutRequest {
  id: string;
  instances: number | undefined;
  intraOpThreads: number | undefined;
}

/** Shares `cores` among the models; explicit settings are kept, the rest is planned. */
export function planLayouts(models: LayoutRequest[], cores: number): { layouts: Map<string, Layout>; overCommitted: boolean } {
  const layouts = new Map<string, Layout>();
  const share = Math.max(1, Math.floor(cores / Math.max(1, models.length)));
  let total = 0;
  for (const model of models) {
    const instances = model.instances ?? 1;
    const intraOpThreads = model.intraOpThreads ?? Math.max(1, Math.floor(share / instances));
    layouts.set(model.id, { instances, intraOpThreads });
    total += instances * intraOpThreads;
  }
  return { layouts, overCommitted: total > cores };
}

/** Spinning only pays when one session has the CPU to itself (docs/architecture.md, "Thread budget": +50% latency otherwise). */
export function spinningAllowed(layouts: Iterable<Layout>): boolean {
  let sessions = 0;
  for (const layout of layouts) sessions += layout.instances;
  return sessions === 1;
}
