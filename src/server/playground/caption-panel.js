// @ts-check
/** Captioning: `POST /v1/caption` with `stream: true`, the text shown as it is decoded. */
import { ApiCallError, callApi } from './api.js';
import { byId } from './dom.js';
import { answeredIn, Runner } from './runner.js';
import { readEvents } from './sse.js';

/** @param {import('./photo-input.js').PhotoInput} photos @param {import('./models.js').ModelDirectory} models */
export function captionPanel(photos, models) {
  const form = byId('caption-form', HTMLFormElement);
  const model = byId('caption-model', HTMLSelectElement);
  const maxTokens = byId('caption-max-tokens', HTMLInputElement);
  const prompt = byId('caption-prompt', HTMLInputElement);
  const promptField = byId('caption-prompt-field');
  const text = byId('caption-text');
  const runner = new Runner(byId('caption-status'), byId('caption-error'));

  // Only models that continue a prompt (BLIP) take one; the others answer 400 to it.
  const showPrompt = () => void (promptField.hidden = models.get(model.value)?.prompt !== true);
  models.bindPicker(model, (m) => m.task === 'image-to-text', showPrompt);
  model.addEventListener('change', showPrompt);

  async function run() {
    const photo = photos.photo;
    if (!photo) return runner.fail('Choose a photo first.');
    if (!model.value) return runner.fail('No captioning model is served.');
    text.textContent = '';
    // Announced once whole, not token by token.
    text.setAttribute('aria-busy', 'true');
    try {
      await runner.run('Captioning…', async (signal) => {
        const body = new FormData();
        body.append('image', photo.blob, photo.name);
        body.append('model', model.value);
        body.append('stream', 'true');
        if (maxTokens.valueAsNumber > 0) body.append('max_new_tokens', String(maxTokens.valueAsNumber));
        if (!promptField.hidden && prompt.value.trim()) body.append('prompt', prompt.value.trim());
        const response = await callApi('/v1/caption', { method: 'POST', body, signal, headers: { Accept: 'text/event-stream' } });
        for await (const { event, data } of readEvents(response)) {
          const payload = JSON.parse(data);
          if (event === 'error') throw new ApiCallError(`The caption failed midway: ${payload.error?.message ?? data}`, { code: payload.error?.code });
          if (event === 'done') {
            text.textContent = payload.caption;
            return `${answeredIn(payload)} ${payload.tokens} tokens, finished: ${payload.finish_reason}.`;
          }
          if (payload.index === 0) text.textContent += payload.delta;
        }
        throw new ApiCallError('The caption stream ended early.');
      });
    } finally {
      text.removeAttribute('aria-busy');
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
  });
  return { run };
}
