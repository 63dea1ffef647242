/**
 * What a task offers the transports: one service function both call with the same raw request,
 * and how each transport reaches it (an HTTP route, a gRPC method). The transports loop over
 * TASK_SERVICES (services/index.ts); neither has a branch for any task.
 */
import type { z } from 'zod';
import type { FitPool } from '../../pipelines/alignment/fit-off-thread.js';
import type { Task } from '../../pipelines/tasks.js';
import type { AlignmentStore } from '../alignment-store.js';
import type { ModelLabels } from '../metrics.js';
import type { ModelRegistry } from '../model-registry.js';
import type { AccessTask, Principal } from '../access/principal.js';
import { keyOf, requireTask } from '../access/access-control.js';
import type { ImageUrlFetcher } from '../image-url/index.js';
import { fetchImageUrls } from './fetch-image-urls.js';

export interface CallContext {
  signal: AbortSignal;
  /** The transport's deadline (Date.now() ms); a request's `timeout_ms` can only shorten it. */
  deadlineMs: number;
  /** Set as soon as the target model is known: the request metrics' model and variant labels. */
  labels: ModelLabels;
  /**
   * Set when the caller streams (HTTP `stream: true`, a service with `http.stream`): partial
   * results go here as they are made, the answer still comes at the end.
   */
  stream?: (chunk: object) => void;
  /** Who the call acts for (access control); absent where nothing asked (open paths, tests). */
  principal?: Principal;
}

export interface ServiceDeps {
  registry: ModelRegistry;
  /** Largest image, in bytes, after base64 decoding (multipart and gRPC bytes alike). */
  imageBytesLimit: number;
  /** Most prompts one zero-shot request may embed. */
  maxPrompts: number;
  /** Fitted zero-shot alignments, and where fits run (off the event loop). */
  alignments: AlignmentStore;
  fitter: Pick<FitPool, 'fit'>;
  /** Fetches http(s) image URLs; absent when image URLs are off (the default). */
  imageUrls?: ImageUrlFetcher;
}

export interface TaskService<Answer extends object = object> {
  /** The task of the models it runs on (admission checks their queues). */
  task: Task;
  /** The `task` label of its request metrics and access log; default `task`. */
  name?: string;
  /** What an API key's `tasks` calls it. */
  access: AccessTask;
  /**
   * The request schema `run` validates with (zod): the OpenAPI document and the MCP tools'
   * input schemas derive from it, so a field is described where it is checked.
   */
  schema: z.ZodType;
  /** Validates the raw request (zod), resolves the model, runs the pipeline, shapes the answer. */
  run(deps: ServiceDeps, raw: unknown, call: CallContext): Promise<Answer>;
  /** `POST <path>`; its body: an image (multipart, JSON or raw bytes, the default) or JSON only. */
  http: {
    path: string;
    /** image: multipart, JSON or raw image bytes (default); form: multipart or JSON; json: JSON only. */
    body?: 'image' | 'form' | 'json';
    /** Image files (field `image`) and text fields a multipart form may carry (default 1 and 20). */
    multipart?: { files: number; fields: number };
    /** More values than the JSON guard's default (a route that takes embeddings as numbers). */
    maxJsonValues?: number;
    /** The JSON answer (default: the service's answer as it is). */
    answer?(answer: Answer): object;
    /** A JSON request that the OpenAPI document shows and a test sends to the live server (images: EXAMPLE_IMAGE). */
    example: Record<string, unknown>;
    /** The JSON answer's schema (answer-schemas.ts), for the OpenAPI document. */
    answerSchema: z.ZodType;
    /** A non-JSON answer (an image, plain text), when the request asked for one; undefined sends JSON. */
    binary?(answer: Answer, request?: HttpAccept): HttpBinary | undefined;
    /**
     * The service streams partial results (`call.stream`) when the request says `stream: true`:
     * the answer is then server-sent events (http/sse.ts): `true` ends them with the whole answer
     * (`event: done`); `'openai'` with `data: [DONE]` (the service sends its last chunks itself).
     */
    stream?: boolean | 'openai';
  };
  /** The RPCs of multimodal.v1.InferenceService, and their message as the raw request (none: HTTP only). */
  grpc?: {
    /** The unary RPC (none: the service streams only, e.g. chat). */
    method?: string;
    /**
     * A server-streaming RPC taking the same message, for a service that streams: each partial
     * result is written as `{delta: chunk}`, then the answer as `{done: answer}`.
     */
    streamMethod?: string;
    request(message: Record<string, unknown>): unknown;
    /** The reply message (default: the service's answer as it is). */
    answer?(answer: Answer): object;
  };
}

/** What the HTTP request's Accept header prefers. */
export interface HttpAccept {
  /** The client ranks this type above JSON. */
  prefers(type: string): boolean;
}

export interface HttpBinary {
  contentType: string;
  body: Uint8Array;
  headers?: Record<string, string>;
}

const RANDOM_WEIGHTS_NOTICE = 'this model has random weights (demo): its labels mean nothing';

/** Says so in the JSON answer of a generated demo model (its scores are real inference over random weights). */
export function withRandomWeightsNotice<A extends { random_weights: boolean }>(answer: A): A | (A & { notice: string }) {
  return answer.random_weights ? { ...answer, notice: RANDOM_WEIGHTS_NOTICE } : answer;
}

/**
 * A pipeline call's options from the request's context: its signal, and its deadline shortened
 * by the request's `timeout_ms`. A request's image bytes are read once,
 * so they may move to the preprocessing thread instead of being copied (`transferImage`).
 */
export function callOptions(call: CallContext, timeoutMs: number | undefined): { signal: AbortSignal; deadlineMs: number; transferImage: true } {
  const deadlineMs = timeoutMs === undefined ? call.deadlineMs : Math.min(call.deadlineMs, Date.now() + timeoutMs);
  return { signal: call.signal, deadlineMs, transferImage: true };
}

/**
 * A gRPC message's `templates` and `descriptions` as the raw request takes them: proto3 cannot
 * tell an empty repeated field or map from an absent one, so empty means absent; each label's
 * `Descriptions` message becomes its list of texts.
 */
export function promptFieldsFromMessage(templates: unknown, descriptions: unknown): { templates?: unknown; descriptions?: Record<string, string[]> } {
  const texts = descriptions as Record<string, { texts?: string[] }> | undefined;
  return {
    ...(Array.isArray(templates) && templates.length > 0 ? { templates } : {}),
    ...(texts && Object.keys(texts).length > 0 ? { descriptions: Object.fromEntries(Object.entries(texts).map(([label, d]) => [label, d.texts ?? []])) } : {}),
  };
}

/** A call context before the model is known. */
export function newCallContext(signal: AbortSignal, deadlineMs: number): CallContext {
  return { signal, deadlineMs, labels: { model: 'unknown', variant: 'unknown' } };
}

/**
 * How every transport calls a service: the caller's key must allow the task, and only the models
 * it allows resolve (`forbidden` otherwise); image URLs in the request are fetched (or refused)
 * before the service sees it.
 */
export async function runService<Answer extends object>(service: TaskService<Answer>, deps: ServiceDeps, raw: unknown, call: CallContext): Promise<Answer> {
  requireTask(call.principal, service.access);
  const key = keyOf(call.principal);
  const scoped = key ? { ...deps, registry: deps.registry.scopedTo((id) => key.allowsModel(id), `key '${key.id}'`) } : deps;
  return service.run(scoped, await fetchImageUrls(raw, deps.imageUrls, call.signal), call);
}
