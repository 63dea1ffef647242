// @ts-check
/** Classification: the top-k labels of `POST /v1/classify` as bars. */
import { callApi } from './api.js';
import { byId, renderBars } from './dom.js';
import { answeredIn, Runner } from './runner.js';

/** @param {import('./photo-input.js').PhotoInput} photos @param {import('./models.js').ModelDirectory} models */
export function classifyPanel(photos, models) {
  const form = byId('classify-form', HTMLFormElement);
  const model = byId('classify-model', HTMLSelectElement);
  const topK = byId('classify-top-k', HTMLInputElement);
  const results = byId('classify-results');
  const runner = new Runner(byId('classify-status'), byId('classify-error'));
  models.bindPicker(model, (m) => m.task === 'image-classification');

  async function run() {
    const photo = photos.photo;
    if (!photo) return runner.fail('Choose a photo first.');
    if (!model.value) return runner.fail('No image classifier is served.');
    await runner.run('Classifying…', async (signal) => {
      const body = new FormData();
      body.append('image', photo.blob, photo.name);
      body.append('model', model.value);
      body.append('top_k', String(topK.valueAsNumber || 5));
      const answer = await (await callApi('/v1/classify', { method: 'POST', body, signal })).json();
      renderBars(results, answer.predictions);
      return answeredIn(answer);
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
  });
  return { run };
}
