/** The soak's HTTP request kinds: every route, multipart and JSON bodies, plain and streamed answers. */
import { httpCall } from './http-client.js';
import { captionStreamEnd, chatStreamEnd, recordHttp } from './record.js';
import { assistantText, between, chance, chatImage, FOLLOW_UPS, image, KNOWN_LABELS, labels, newLabel, pick, postForm, postJson, QUESTIONS, type RequestKind } from './requests.js';

export const classifyMultipart: RequestKind = {
  name: 'POST /v1/classify (multipart)',
  weight: 8,
  run: async (ctx) => void recordHttp(ctx.tally, classifyMultipart.name, await postForm(ctx, '/v1/classify', [['top_k', String(between(1, 10))], ['model', pick(['vit-demo', 'vit-demo:q8'])]], image(ctx))),
};

export const classifyJson: RequestKind = {
  name: 'POST /v1/classify (JSON base64)',
  weight: 6,
  run: async (ctx) => {
    const img = image(ctx);
    const answer = await postJson(ctx, '/v1/classify', { image: chance(0.5) ? img.base64 : img.dataUrl, top_k: between(1, 5), model: pick(['vit-demo', 'vit-demo:q8']) });
    recordHttp(ctx.tally, classifyJson.name, answer);
  },
};

/** Zero-shot, multipart or JSON, with a mix of strategies and both CLIP variants. */
export function zeroShot(name: string, weight: number, aligned: boolean): RequestKind {
  const kind: RequestKind = {
    name,
    weight,
    run: async (ctx) => {
      const img = image(ctx);
      // An alignment is fitted for one model: aligned requests name it.
      const model = aligned ? 'clip-demo' : pick(['clip-demo', 'clip-demo:q8']);
      const strategy = pick(['template', 'template', 'plain', 'ensemble']);
      const request = { labels: labels(), strategy, model, multi_label: chance(0.2), ...(aligned && { alignment: ctx.alignment }) };
      const fields = [
        ...request.labels.map((l) => ['labels', l] as const),
        ['strategy', strategy] as const,
        ['model', model] as const,
        ['multi_label', String(request.multi_label)] as const,
        ...(aligned ? [['alignment', ctx.alignment] as const] : []),
      ];
      const answer = chance(0.5) ? await postJson(ctx, '/v1/zero-shot', { image: img.base64, ...request }) : await postForm(ctx, '/v1/zero-shot', fields, img);
      recordHttp(ctx.tally, kind.name, answer);
    },
  };
  return kind;
}

export const embeddingsText: RequestKind = {
  name: 'POST /v1/embeddings (text)',
  weight: 5,
  run: async (ctx) => {
    const input = Array.from({ length: between(1, 4) }, () => (chance(0.5) ? `a photo of a ${pick(KNOWN_LABELS)}.` : `a photo of a ${newLabel()}.`));
    const answer = await postJson(ctx, '/v1/embeddings', { input, model: pick(['clip-demo', 'clip-demo:q8']), encoding_format: pick(['float', 'base64']) });
    recordHttp(ctx.tally, embeddingsText.name, answer);
  },
};

export const embeddingsImage: RequestKind = {
  name: 'POST /v1/embeddings (image)',
  weight: 4,
  run: async (ctx) => {
    const input = chance(0.5) ? [image(ctx).dataUrl] : [image(ctx).dataUrl, `a photo of a ${pick(KNOWN_LABELS)}.`];
    recordHttp(ctx.tally, embeddingsImage.name, await postJson(ctx, '/v1/embeddings', { input, model: pick(['clip-demo', 'clip-demo:q8']) }));
  },
};

export const attentionPng: RequestKind = {
  name: 'POST /v1/attention (png)',
  weight: 3,
  run: async (ctx) => {
    const fields: [string, string][] = [['model', pick(['vit-demo', 'clip-demo'])], ['method', pick(['cls', 'rollout'])], ['heads', pick(['mean', 'max', 'all'])], ['colormap', pick(['jet', 'viridis', 'inferno'])]];
    recordHttp(ctx.tally, attentionPng.name, await postForm(ctx, '/v1/attention', fields, image(ctx)));
  },
};

export const attentionJson: RequestKind = {
  name: 'POST /v1/attention (json)',
  weight: 3,
  run: async (ctx) => {
    const vit = chance(0.5);
    const request = { image: image(ctx).base64, model: vit ? 'vit-demo' : 'clip-demo', format: 'json', method: pick(['cls', 'rollout']), ...(vit && { classify: true, top_k: 3 }) };
    recordHttp(ctx.tally, attentionJson.name, await postJson(ctx, '/v1/attention', request));
  },
};

export const localize: RequestKind = {
  name: 'POST /v1/zero-shot/localize',
  weight: 3,
  run: async (ctx) => {
    const fields: [string, string][] = [...labels().map((l) => ['labels', l] as [string, string]), ['format', pick(['png', 'json'])], ['model', pick(['clip-demo', 'clip-demo:q8'])]];
    recordHttp(ctx.tally, localize.name, await postForm(ctx, '/v1/zero-shot/localize', fields, image(ctx)));
  },
};

/** Either captioner, a few tokens, sometimes sampled, sometimes BLIP continuing a prompt. */
function captionFields(): [string, string][] {
  const blip = chance(0.5);
  return [
    ['model', blip ? 'blip-demo' : 'caption-demo'],
    ['max_new_tokens', String(between(2, 8))],
    ...(chance(0.3) ? ([['temperature', '0.8'], ['top_k', '20'], ['seed', String(between(0, 1000))]] as [string, string][]) : []),
    ...(blip && chance(0.5) ? ([['prompt', 'a photography of']] as [string, string][]) : []),
  ];
}

export const caption: RequestKind = {
  name: 'POST /v1/caption',
  weight: 3,
  run: async (ctx) => {
    const fields = captionFields();
    const answer = chance(0.5)
      ? await postForm(ctx, '/v1/caption', fields, image(ctx), chance(0.3) ? { headers: { accept: 'text/plain' } } : {})
      : await postJson(ctx, '/v1/caption', { image: image(ctx).base64, ...Object.fromEntries(fields.map(([k, v]) => [k, k === 'model' || k === 'prompt' ? v : Number(v)])) });
    recordHttp(ctx.tally, caption.name, answer);
  },
};

export const captionStream: RequestKind = {
  name: 'POST /v1/caption (stream)',
  weight: 3,
  run: async (ctx) => void recordHttp(ctx.tally, captionStream.name, await postForm(ctx, '/v1/caption', [...captionFields(), ['stream', 'true']], image(ctx)), 'ok', captionStreamEnd),
};

/** A two-turn chat over HTTP: the second turn re-sends the image (its features come from the cache). */
export function chat(name: string, weight: number, streamed: boolean): RequestKind {
  const kind: RequestKind = {
    name,
    weight,
    run: async (ctx) => {
      const img = await chatImage(ctx);
      const first = [{ role: 'user', content: [{ type: 'image_url', image_url: { url: img.dataUrl } }, { type: 'text', text: pick(QUESTIONS) }] }];
      const settings = { model: 'chat-demo', max_tokens: between(2, 8), stream: streamed, ...(chance(0.3) && { temperature: 0.7, seed: between(0, 1000) }) };
      const one = await postJson(ctx, '/v1/chat/completions', { ...settings, messages: first });
      if (!recordHttp(ctx.tally, kind.name, one, 'ok', streamed ? chatStreamEnd : undefined) || one.kind !== 'answered') return;
      const messages = [...first, { role: 'assistant', content: assistantText(one.body.toString('utf8'), streamed) }, { role: 'user', content: pick(FOLLOW_UPS) }];
      recordHttp(ctx.tally, kind.name, await postJson(ctx, '/v1/chat/completions', { ...settings, messages }), 'ok', streamed ? chatStreamEnd : undefined);
    },
  };
  return kind;
}

export const models: RequestKind = {
  name: 'GET /v1/models',
  weight: 2,
  run: async (ctx) => void recordHttp(ctx.tally, models.name, await httpCall(ctx.http, { method: 'GET', path: '/v1/models' })),
};

export const metrics: RequestKind = {
  name: 'GET /metrics',
  weight: 2,
  run: async (ctx) => {
    const answer = await httpCall(ctx.http, { method: 'GET', path: '/metrics' });
    if (answer.kind === 'answered' && answer.status === 200) ctx.onMetrics(answer.body.toString('utf8'));
    recordHttp(ctx.tally, metrics.name, answer);
  },
};

