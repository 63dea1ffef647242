/**
 * What the soak's request kinds share: the context they run in, random draws, the labels (some
 * known to the text cache, some never seen), the chat images and questions, and posting helpers.
 */
import { freshVariant, type Fixtures, type SoakImage } from './fixtures.js';
import type { InferenceClient } from './grpc-client.js';
import { httpCall, multipartBody, type HttpCall, type HttpTarget } from './http-client.js';
import { sseData } from './record.js';
import type { Tally } from './tally.js';

export interface MixContext {
  http: HttpTarget;
  grpc: InferenceClient;
  fixtures: Fixtures;
  /** The alignment fitted at the start (for clip-demo). */
  alignment: string;
  tally: Tally;
  /** Each /metrics text the mix reads: reading it resets the server's event-loop lag histogram. */
  onMetrics(text: string): void;
}

export interface RequestKind {
  name: string;
  weight: number;
  run(ctx: MixContext): Promise<void>;
}

export const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;
export const chance = (p: number) => Math.random() < p;
export const between = (low: number, high: number) => low + Math.floor(Math.random() * (high - low + 1));

/** Labels the text cache has after the first minute (hits). */
export const KNOWN_LABELS = ['cat', 'dog', 'coffee cup', 'astronaut', 'rocket', 'sofa', 'teapot', 'bicycle', 'tree', 'car', 'space suit', 'launch pad', 'mug', 'kitten', 'flag', 'moon'];
const WORDS = ['red', 'small', 'old', 'shiny', 'wooden', 'striped', 'blurry', 'distant', 'plastic', 'broken'];
let unique = 0;
/** A label no request asked before: a text-cache miss, every time. */
export const newLabel = () => `${pick(WORDS)} ${pick(KNOWN_LABELS)} number ${++unique}`;

/** 2–4 known labels, and in most requests one never seen. */
export function labels(): string[] {
  const chosen = new Set<string>();
  const count = between(2, 4);
  while (chosen.size < count) chosen.add(pick(KNOWN_LABELS));
  return chance(0.6) ? [...chosen, newLabel()] : [...chosen];
}

export const image = (ctx: MixContext) => pick(ctx.fixtures.images);
const file = (img: { name: string; type: string; bytes: Uint8Array }) => ({ field: 'image', filename: img.name, type: img.type, bytes: img.bytes });

export function postForm(ctx: MixContext, path: string, fields: (readonly [string, string])[], img: { name: string; type: string; bytes: Uint8Array }, extra: { headers?: Record<string, string>; abort?: HttpCall['abort'] } = {}) {
  const { body, contentType } = multipartBody(fields, [file(img)]);
  return httpCall(ctx.http, { method: 'POST', path, headers: { 'content-type': contentType, ...extra.headers }, body, ...(extra.abort && { abort: extra.abort }) });
}

export function postJson(ctx: MixContext, path: string, json: object, abort?: HttpCall['abort']) {
  return httpCall(ctx.http, { method: 'POST', path, headers: { 'content-type': 'application/json' }, body: JSON.stringify(json), ...(abort && { abort }) });
}

export const QUESTIONS = ['What is in this picture?', 'Describe the image.', 'What colour is it?', 'Is there a person here?'];
export const FOLLOW_UPS = ['And in one word?', 'Why?', 'What else do you see?', 'Say that again, shorter.'];

/** The first user turn: a chat image (a cache miss when fresh, a hit when re-sent) and a question. */
export async function chatImage(ctx: MixContext): Promise<SoakImage> {
  const source = pick(ctx.fixtures.chatSources);
  return chance(0.5) ? freshVariant(source) : source;
}

/** The assistant's text of a chat answer: the completion's message, or the streamed chunks' deltas. */
export function assistantText(body: string, streamed: boolean): string {
  if (!streamed) return (JSON.parse(body) as { choices: { message: { content: string } }[] }).choices[0]!.message.content;
  return sseData(body)
    .filter((d) => d.startsWith('{'))
    .map((d) => (JSON.parse(d) as { choices: { delta?: { content?: string } }[] }).choices[0]?.delta?.content ?? '')
    .join('');
}

