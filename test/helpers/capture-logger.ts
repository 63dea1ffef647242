/** A pino logger that keeps every line it writes, to assert on what the server logs. */
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

export function capturingLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString().split('\n').filter(Boolean));
      done();
    },
  });
  return { logger: pino({ level: 'info' }, stream), lines };
}
