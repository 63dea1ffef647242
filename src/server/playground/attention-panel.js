// @ts-check
/**
 * Attention: where an image encoder looks (`POST /v1/attention`) as a heat-map over the photo,
 * every head of the layer as a mosaic (`heads: all`), and where each zero-shot label is
 * (`POST /v1/zero-shot/localize`). Changing a control asks again; the latest request wins.
 */
import { callApi } from './api.js';
import { byId, fillSelect, showBlob } from './dom.js';
import { hasAttention } from './models.js';
import { Runner } from './runner.js';

/**
 * @param {import('./photo-input.js').PhotoInput} photos
 * @param {import('./models.js').ModelDirectory} models
 * @param {ReturnType<typeof import('./zero-shot-panel.js').zeroShotPanel>} zeroShot
 */
export function attentionPanel(photos, models, zeroShot) {
  const form = byId('attention-form', HTMLFormElement);
  const model = byId('attention-model', HTMLSelectElement);
  const method = byId('attention-method', HTMLSelectElement);
  const layer = byId('attention-layer', HTMLSelectElement);
  const layerLabel = byId('attention-layer-label');
  const head = byId('attention-head', HTMLSelectElement);
  const colormap = byId('attention-colormap', HTMLSelectElement);
  const overlay = byId('attention-image', HTMLImageElement);
  const mosaic = byId('attention-mosaic', HTMLImageElement);
  const localized = byId('localize-image', HTMLImageElement);
  const runner = new Runner(byId('attention-status'), byId('attention-error'));
  const localizeRunner = new Runner(byId('localize-status'), byId('localize-error'));

  /** The model's attention layout, or undefined. */
  const layout = () => {
    const info = models.get(model.value)?.attention;
    return info && 'layers' in info ? info : undefined;
  };

  /**
   * Layer and head choices follow the model and the method (rollout starts at a layer; similarity
   * has no heads). A new method starts at its own default layer: rollout's first, the others' last.
   * @param {{ methodChanged?: boolean }} [options]
   */
  function fillLayerAndHead(options = {}) {
    const info = layout();
    const layers = info ? Array.from({ length: info.layers }, (_, i) => i) : [];
    const usable = method.value === 'similarity' ? (info?.similarity_layers ?? []) : layers;
    const last = layers.length - 1;
    layerLabel.textContent = method.value === 'rollout' ? 'Start layer' : 'Layer';
    const preferred = String(method.value === 'rollout' ? 0 : usable[usable.length - 1] ?? '');
    fillSelect(layer, usable.map((l) => ({ value: String(l), label: l === last ? `${l} (last)` : String(l) })), preferred);
    if (options.methodChanged && usable.length > 0) layer.value = preferred;
    if (method.value === 'similarity') {
      fillSelect(head, [{ value: '', label: 'n/a' }]);
      head.disabled = true;
    } else {
      const heads = Array.from({ length: info?.heads ?? 0 }, (_, h) => ({ value: String(h), label: `head ${h}` }));
      fillSelect(head, [{ value: 'mean', label: 'mean' }, { value: 'max', label: 'max' }, ...heads], 'mean');
      head.disabled = false;
    }
  }

  /** @param {import('./photo-input.js').Photo} photo @param {string} heads @param {AbortSignal} signal */
  async function requestMap(photo, heads, signal) {
    const body = new FormData();
    body.append('image', photo.blob, photo.name);
    body.append('model', model.value);
    body.append('method', method.value);
    body.append(method.value === 'rollout' ? 'start_layer' : 'layer', layer.value);
    if (heads) body.append('heads', heads);
    body.append('colormap', colormap.value);
    return (await callApi('/v1/attention', { method: 'POST', body, signal })).blob();
  }

  const describe = () => {
    const where = method.value === 'rollout' ? `rollout from layer ${layer.value}` : `${method.value}, layer ${layer.value}`;
    return method.value === 'similarity' ? where : `${where}, ${head.value === 'mean' || head.value === 'max' ? `${head.value} of the heads` : `head ${head.value}`}`;
  };

  /** The overlay, and the mosaic too unless only the head changed (the mosaic shows every head). @param {{ mosaic: boolean }} what */
  async function run(what = { mosaic: true }) {
    const photo = photos.photo;
    if (!photo) return runner.fail('Choose a photo first.');
    if (!layout()) return runner.fail('No served model offers attention maps.');
    const withMosaic = what.mosaic && method.value !== 'similarity';
    await runner.run('Computing attention…', async (signal) => {
      const [map, tiles] = await Promise.all([
        requestMap(photo, head.value, signal),
        withMosaic ? requestMap(photo, 'all', signal) : undefined,
      ]);
      showBlob(overlay, map);
      overlay.alt = `Attention heat-map of ${model.value} over the photo: ${describe()}`;
      byId('attention-caption').textContent = `${model.value}: ${describe()}.`;
      byId('attention-figure').hidden = false;
      if (tiles) {
        showBlob(mosaic, tiles);
        mosaic.alt = `Attention of every head of ${model.value}, ${method.value}, layer ${layer.value}, one tile per head`;
      }
      byId('attention-mosaic-figure').hidden = method.value === 'similarity';
      return method.value === 'similarity' ? 'Similarity compares hidden states: it has no heads, so no mosaic.' : '';
    });
  }

  /** Where each zero-shot label is, with the image-level scores of the same run. */
  async function localize() {
    const photo = photos.photo;
    const labels = zeroShot.labels();
    if (!photo || !zeroShot.model.value || labels.length === 0) return;
    await localizeRunner.run('Locating the labels…', async (signal) => {
      const body = new FormData();
      body.append('image', photo.blob, photo.name);
      body.append('model', zeroShot.model.value);
      zeroShot.addPromptFields(body);
      body.append('format', 'both');
      body.append('colormap', colormap.value);
      const answer = await (await callApi('/v1/zero-shot/localize', { method: 'POST', body, signal })).json();
      localized.src = `data:image/png;base64,${answer.png_base64}`;
      const scores = answer.predictions.map((/** @type {{ label: string, score: number }} */ p) => `${p.label} ${(p.score * 100).toFixed(0)}%`).join(', ');
      localized.alt = `Where each label is, one tile per label: ${labels.join(', ')}`;
      byId('localize-caption').textContent = `Where each zero-shot label is (${zeroShot.model.value}; each tile normalised on its own, so it always has a hottest spot). Image-level scores: ${scores}.`;
      byId('localize-figure').hidden = false;
    });
  }

  models.bindPicker(model, hasAttention, () => fillLayerAndHead());
  fillLayerAndHead();
  model.addEventListener('change', () => {
    fillLayerAndHead();
    void run();
  });
  method.addEventListener('change', () => {
    fillLayerAndHead({ methodChanged: true });
    void run();
  });
  layer.addEventListener('change', () => void run());
  head.addEventListener('change', () => void run({ mosaic: false }));
  colormap.addEventListener('change', () => {
    void run();
    void localize();
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    void run();
    void localize();
  });
  return { run, localize };
}
