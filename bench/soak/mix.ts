/**
 * The soak's request mix: every endpoint on both transports, each request kind with a weight (its
 * chance to be a client's next request), plus about 6% deliberately bad requests and clients that
 * go away, so the error and cancellation paths run as long as the happy ones.
 */
import { abortQueued, abortStreamGrpc, abortStreamHttp, abortUpload, corruptGrpc, corruptHttp, unknownModelGrpc, unknownModelHttp } from './bad-kinds.js';
import { grpcCaptionStream, grpcChat, grpcClassify, grpcZeroShot } from './grpc-kinds.js';
import { attentionJson, attentionPng, caption, captionStream, chat, classifyJson, classifyMultipart, embeddingsImage, embeddingsText, localize, metrics, models, zeroShot } from './http-kinds.js';
import type { RequestKind } from './requests.js';

export type { MixContext, RequestKind } from './requests.js';

export const MIX: readonly RequestKind[] = [
  classifyMultipart,
  classifyJson,
  zeroShot('POST /v1/zero-shot', 8, false),
  zeroShot('POST /v1/zero-shot (alignment)', 4, true),
  embeddingsText,
  embeddingsImage,
  attentionPng,
  attentionJson,
  localize,
  caption,
  captionStream,
  chat('POST /v1/chat/completions (2 turns)', 2, false),
  chat('POST /v1/chat/completions (stream, 2 turns)', 2, true),
  models,
  metrics,
  grpcClassify,
  grpcZeroShot,
  grpcCaptionStream,
  grpcChat,
  corruptHttp,
  unknownModelHttp,
  corruptGrpc,
  unknownModelGrpc,
  abortUpload,
  abortQueued,
  abortStreamHttp,
  abortStreamGrpc,
];

const TOTAL_WEIGHT = MIX.reduce((sum, kind) => sum + kind.weight, 0);

/** A request kind drawn by weight. */
export function nextKind(): RequestKind {
  let r = Math.random() * TOTAL_WEIGHT;
  for (const kind of MIX) if ((r -= kind.weight) < 0) return kind;
  return MIX.at(-1)!;
}

/** Each kind's share of the draws, for the report. */
export function mixShares(): { name: string; share: number }[] {
  return MIX.map((kind) => ({ name: kind.name, share: kind.weight / TOTAL_WEIGHT }));
}

