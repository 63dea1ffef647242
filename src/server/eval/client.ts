/**
 * The few HTTP calls the evaluation makes to the server (global fetch). A non-2xx answer throws
 * `ServerError` with the server's error code and message.
 */
import type { alignmentResponse } from '../wire.js';

export class ServerError extends Error {
  override readonly name = 'ServerError';
  constructor(
    readonly route: string,
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(`${route}: ${status} ${code}: ${message}`);
  }
}

export interface ModelInfo {
  id: string;
  task: string;
  state: string;
  error?: string;
  random_weights?: boolean;
}

/** The server's answer for a fitted alignment (the wire shape both transports use). */
export type AlignmentAnswer = ReturnType<typeof alignmentResponse>;

export interface PromptOptions {
  strategy: 'plain' | 'template' | 'descriptive' | 'ensemble';
  descriptions?: Record<string, string[]>;
}

export class EvalClient {
  constructor(private readonly baseUrl: string) {}

  private async call<T>(method: 'GET' | 'POST' | 'DELETE', route: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.baseUrl}${route}`, {
      method,
      ...(body === undefined ? {} : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!response.ok) {
      const error = (parsed as { error?: { code?: string; message?: string } } | undefined)?.error;
      throw new ServerError(`${method} ${route}`, response.status, error?.code ?? 'unknown', error?.message ?? text.slice(0, 300));
    }
    return parsed as T;
  }

  async models(): Promise<ModelInfo[]> {
    return (await this.call<{ data: ModelInfo[] }>('GET', '/v1/models')).data;
  }

  /** L2-normalised embeddings of texts and `data:` URL images, in input order. */
  async embed(model: string, input: readonly string[]): Promise<Float32Array[]> {
    const answer = await this.call<{ data: { index: number; embedding: number[] }[] }>('POST', '/v1/embeddings', { model, input });
    if (answer.data.length !== input.length) throw new Error(`/v1/embeddings answered ${answer.data.length} embeddings for ${input.length} inputs`);
    return answer.data.map((d) => Float32Array.from(d.embedding));
  }

  /** Fits (or refits) alignment `name` on labelled embeddings; no held-out share (the caller keeps its own). */
  async fitAlignment(
    name: string,
    model: string,
    prompts: PromptOptions,
    examples: { embedding: Float32Array; label: string }[],
    seed: number,
  ): Promise<AlignmentAnswer> {
    return this.call<AlignmentAnswer>('POST', '/v1/zero-shot/alignments', {
      name,
      model,
      ...prompts,
      examples: examples.map((e) => ({ embedding: Array.from(e.embedding), label: e.label })),
      holdout: 0,
      seed,
    });
  }

  /** The top label of each image (at most 16) by /v1/zero-shot, optionally through an alignment. */
  async zeroShotTop1(model: string, images: readonly string[], labels: readonly string[], prompts: PromptOptions, alignment?: string): Promise<string[]> {
    const answer = await this.call<{ results: { predictions: { label: string }[] }[] }>('POST', '/v1/zero-shot', {
      model,
      images,
      labels,
      ...prompts,
      top_k: 1,
      ...(alignment === undefined ? {} : { alignment }),
    });
    return answer.results.map((r) => r.predictions[0]!.label);
  }
}
