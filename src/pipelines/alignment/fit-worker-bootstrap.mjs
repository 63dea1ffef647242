// Piscina entry used when the server runs from TypeScript sources (tsx, tests): worker threads do
// not reliably inherit tsx's loader, so register it here and re-export the real handler.
import { register } from 'tsx/esm/api';

register();
const { default: handler } = await import(new URL('./fit-worker.ts', import.meta.url).href);
export default handler;
