/**
 * The node:http server under the express app: timeouts for slow clients (the head within
 * `headersTimeoutMs`, the whole request within `bodyTimeoutMs`, checked every second), and the
 * errors Node answers by itself (malformed requests, oversized heads, those timeouts) in the
 * same JSON shape as every other error.
 */
import { createServer, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { ApiError, type ErrorCode } from '../../errors.js';
import type { Limits } from '../config.js';

/** Node's client errors → our table (anything else the parser rejects is a 400). */
function clientErrorOf(error: NodeJS.ErrnoException): ApiError {
  const code = error.code ?? '';
  const [table, message]: [ErrorCode, string] =
    code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? ['request_timeout', 'the request did not arrive in time']
      : code === 'HPE_HEADER_OVERFLOW'
        ? ['headers_too_large', 'the request head is over the size limit']
        : ['invalid_request', 'malformed HTTP request'];
  return new ApiError(table, message);
}

function rawResponse(error: ApiError): string {
  const body = JSON.stringify(error.toJSON());
  const reason = { 400: 'Bad Request', 408: 'Request Timeout', 431: 'Request Header Fields Too Large' }[error.httpStatus] ?? 'Error';
  return (
    `HTTP/1.1 ${error.httpStatus} ${reason}\r\nContent-Type: application/json; charset=utf-8\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

export function createHttpServer(app: RequestListener, limits: Pick<Limits, 'headersTimeoutMs' | 'bodyTimeoutMs'>): Server {
  const server = createServer(
    {
      // Node requires headersTimeout ≤ requestTimeout; a body timeout below the head's shortens both.
      headersTimeout: Math.min(limits.headersTimeoutMs, limits.bodyTimeoutMs),
      requestTimeout: limits.bodyTimeoutMs,
      // Node checks both timeouts on this interval (default 30 s, so a slow client could stay twice as long).
      connectionsCheckingInterval: 1000,
    },
    app,
  );
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
    // The client closed its side mid-request (reset, or a FIN before the body's end): it left.
    if (error.code === 'ECONNRESET' || error.code === 'HPE_INVALID_EOF_STATE' || !socket.writable) return void socket.destroy();
    // The response of the request in progress on this socket, if any (what Node's default handler checks too).
    const res = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
    const apiError = clientErrorOf(error);
    if (res?.headersSent) return void socket.destroy();
    if (res && 'locals' in res) (res as ServerResponse & { locals: Express.Locals }).locals.abandonedAs = apiError.code;
    socket.end(rawResponse(apiError));
    socket.destroySoon();
  });
  return server;
}
