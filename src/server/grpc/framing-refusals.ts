/**
 * grpc-js refuses a unary or server-streaming call that carries no request message, or two, with
 * UNIMPLEMENTED ("Received no request message for server streaming method …"), which tells a
 * client the method does not exist. It is the client's malformed call: this server interceptor
 * answers it INVALID_ARGUMENT with the table's `invalid_request` (docs/architecture.md, "Errors").
 * (What grpc-js refuses below the interceptors, a message over the size limit or one that does
 * not decompress, keeps grpc-js's own status.)
 */
import { Metadata, ServerInterceptingCall, status, type ServerInterceptor } from '@grpc/grpc-js';

const MESSAGE_COUNT_REFUSAL = /^Received (no|a second) request message for /;

export const framingRefusals: ServerInterceptor = (_method, call) =>
  new ServerInterceptingCall(call, {
    sendStatus(callStatus, next) {
      if (callStatus.code !== status.UNIMPLEMENTED || !MESSAGE_COUNT_REFUSAL.test(callStatus.details ?? '')) return next(callStatus);
      const metadata = callStatus.metadata ?? new Metadata();
      metadata.set('error-code', 'invalid_request');
      next({ code: status.INVALID_ARGUMENT, details: `${callStatus.details?.replace(/ for server streaming method .*$/, '')}: a call carries exactly one`, metadata });
    },
  });
