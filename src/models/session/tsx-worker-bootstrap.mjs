// Worker entry used when the server runs from TypeScript sources (tsx, tests): worker threads do
// not reliably inherit tsx's loader, so register it here, then load the real entry, passed as
// the last argv element.
import { register } from 'tsx/esm/api';

register();
await import(process.argv[process.argv.length - 1]);
