/**
 * One thread budget for the whole server: the sum of intra-op threads over all session
 * workers stays within the cores unless the configuration says otherwise. On 2 cores the
 * measured best layout for a ViT is 2 workers × 1 thread (ARCHITECTURE.md).
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
    const instances = model.instances ?? Math.min(2, share);
    const intraOpThreads = model.intraOpThreads ?? Math.max(1, Math.floor(share / instances));
    layouts.set(model.id, { instances, intraOpThreads });
    total += instances * intraOpThreads;
  }
  return { layouts, overCommitted: total > cores };
}
