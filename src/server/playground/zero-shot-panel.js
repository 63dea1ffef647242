// @ts-check
/**
 * Zero-shot: free-form labels scored by CLIP (`POST /v1/zero-shot`) under a prompt strategy and
 * optionally an alignment (`GET /v1/zero-shot/alignments`). The labels and prompt settings are
 * also what the attention panel's localisation maps use.
 */
import { callApi, getJson, messageOf } from './api.js';
import { byId, fillSelect, renderBars } from './dom.js';
import { answeredIn, Runner } from './runner.js';

/** @param {import('./photo-input.js').PhotoInput} photos @param {import('./models.js').ModelDirectory} models */
export function zeroShotPanel(photos, models) {
  const form = byId('zero-shot-form', HTMLFormElement);
  const model = byId('zero-shot-model', HTMLSelectElement);
  const labelsInput = byId('zero-shot-labels', HTMLInputElement);
  const strategy = byId('zero-shot-strategy', HTMLSelectElement);
  const alignment = byId('zero-shot-alignment', HTMLSelectElement);
  const template = byId('zero-shot-template', HTMLInputElement);
  const descriptions = byId('zero-shot-descriptions', HTMLTextAreaElement);
  const results = byId('zero-shot-results');
  const errorLine = byId('zero-shot-error');
  const runner = new Runner(byId('zero-shot-status'), errorLine);

  /** @type {{ name: string, model: string }[]} */
  let alignments = [];
  const fillAlignments = () => {
    const usable = alignments.filter((a) => a.model === model.value);
    fillSelect(alignment, [{ value: '', label: 'none' }, ...usable.map((a) => ({ value: a.name, label: a.name }))], '');
  };
  models.bindPicker(model, (m) => m.task === 'zero-shot-image-classification', fillAlignments);
  model.addEventListener('change', fillAlignments);

  async function loadAlignments() {
    try {
      const list = await getJson('/v1/zero-shot/alignments');
      alignments = list.data.filter((/** @type {{ error?: string }} */ a) => !a.error);
    } catch (error) {
      errorLine.textContent = `Could not list the alignments: ${messageOf(error)}`;
    }
    fillAlignments();
  }

  const labels = () => [...new Set(labelsInput.value.split(',').map((l) => l.trim()).filter(Boolean))];

  strategy.addEventListener('change', () => {
    byId('zero-shot-template-field').hidden = strategy.value !== 'template';
    byId('zero-shot-descriptions-field').hidden = strategy.value !== 'descriptive';
    if (strategy.value === 'descriptive' && descriptions.value.trim() === '') {
      descriptions.value = labels().map((l) => `${l}: a photo of a ${l}; a close-up photo of a ${l}`).join('\n');
    }
  });

  /** The prompt fields of a zero-shot or localisation request, added to a form body. @param {FormData} body */
  function addPromptFields(body) {
    body.append('labels', JSON.stringify(labels()));
    body.append('strategy', strategy.value);
    if (strategy.value === 'template' && template.value.trim()) body.append('template', template.value.trim());
    if (strategy.value === 'descriptive') body.append('descriptions', JSON.stringify(parseDescriptions(descriptions.value)));
  }

  async function run() {
    const photo = photos.photo;
    if (!photo) return runner.fail('Choose a photo first.');
    if (!model.value) return runner.fail('No CLIP model is served.');
    if (labels().length === 0) return runner.fail('Give at least one label.');
    await runner.run('Scoring labels…', async (signal) => {
      const body = new FormData();
      body.append('image', photo.blob, photo.name);
      body.append('model', model.value);
      addPromptFields(body);
      if (alignment.value) body.append('alignment', alignment.value);
      const answer = await (await callApi('/v1/zero-shot', { method: 'POST', body, signal })).json();
      renderBars(results, answer.predictions);
      const prompts = answer.prompts?.reduce((/** @type {number} */ n, /** @type {{ texts: string[] }} */ p) => n + p.texts.length, 0) ?? 0;
      const aligned = alignment.value ? ` Alignment: ${alignment.value}.` : '';
      return `${answeredIn(answer)} ${prompts} prompts; text cache ${answer.cache?.hits ?? 0} hits, ${answer.cache?.misses ?? 0} misses.${aligned}`;
    });
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
  });
  void loadAlignments();
  return { run, labels, addPromptFields, model };
}

/**
 * `label: one; another` lines as `{label: [one, another]}`.
 * @param {string} text
 */
export function parseDescriptions(text) {
  /** @type {Record<string, string[]>} */
  const out = {};
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const label = line.slice(0, colon).trim();
    const items = line.slice(colon + 1).split(';').map((d) => d.trim()).filter(Boolean);
    if (label && items.length > 0) out[label] = items;
  }
  return out;
}
