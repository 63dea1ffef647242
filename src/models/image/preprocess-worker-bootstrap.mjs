// Piscina entry used when the server runs from TypeScript sources (tsx, tests): worker threads do
// not reliably inherit tsx's loader, so register it here and re-export the real handlers.
import { register } from 'tsx/esm/api';

register();
const worker = await import(new URL('./preprocess-worker.ts', import.meta.url).href);
export default worker.default;
export const renderHeatmap = worker.renderHeatmap;
export const splitViews = worker.splitViews;
