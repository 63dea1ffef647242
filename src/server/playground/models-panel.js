// @ts-check
/**
 * Models: what `GET /v1/models` says of each served model, and live throughput from `/metrics`
 * (rates of `mms_requests_total`, `mms_items_processed_total` and `mms_generated_tokens_total`
 * over a sliding window, polled every few seconds while the page is visible).
 */
import { callApi, messageOf } from './api.js';
import { byId, el } from './dom.js';
import { parseMetrics, RateWindow, sum } from './prometheus.js';

const POLL_MS = 2000;
const WINDOW_MS = 30_000;
const MODELS_EVERY_POLLS = 5;
const COUNTERS = new Set(['mms_requests_total', 'mms_items_processed_total', 'mms_generated_tokens_total']);

/** @param {import('./models.js').ModelDirectory} models */
export function modelsPanel(models) {
  const list = byId('models-list');
  const error = byId('models-error');
  const rateText = byId('throughput-rate');
  const totalText = byId('throughput-total');
  const rates = new RateWindow(WINDOW_MS);

  /** @param {import('./models.js').ModelInfo} model */
  function card(model) {
    /** @type {[string, string][]} */
    const rows = [
      ['task', model.task],
      ['state', model.error ? `${model.state}: ${model.error}` : model.state],
      ['variant', model.variant ?? '—'],
      ['family', model.family ?? '—'],
      ['provider', model.execution_provider ?? '—'],
    ];
    if (model.size_bytes) rows.push(['size', `${(model.size_bytes / 1e6).toFixed(1)} MB`]);
    if (model.attention) rows.push(['attention', 'layers' in model.attention ? `${model.attention.layers} layers × ${model.attention.heads} heads, ${model.attention.grid.rows}×${model.attention.grid.cols} grid` : `no: ${model.attention.unavailable}`]);
    if (model.agreement) rows.push(['agreement with fp32', agreementText(model.agreement)]);
    if (model.random_weights) rows.push(['weights', 'random (demo)']);
    rows.push(['throughput', '—']);
    const dl = el('dl', {}, rows.flatMap(([term, value]) => [el('dt', { text: term }), el('dd', { text: value })]));
    const item = el('li', { className: 'model-card' }, [el('h3', { text: model.id }), dl]);
    item.dataset.model = model.id;
    return item;
  }

  function render() {
    list.replaceChildren(...models.models.map(card));
    byId('random-weights-notice').hidden = !models.models.some((m) => m.random_weights);
    showModelRates();
  }

  /** Each card's items/s (and tokens/s for decoders), from the last metrics. */
  function showModelRates() {
    for (const item of list.querySelectorAll('li.model-card')) {
      const id = /** @type {HTMLElement} */ (item).dataset.model ?? '';
      const items = rates.rate(`items ${id}`);
      const tokens = rates.rate(`tokens ${id}`);
      const dd = item.querySelector('dd:last-of-type');
      if (!dd || items === undefined) continue;
      dd.textContent = `${items.toFixed(1)} items/s${tokens ? `, ${tokens.toFixed(1)} tokens/s` : ''}`;
    }
  }

  async function refreshModels() {
    try {
      await models.refresh();
      error.textContent = '';
    } catch (caught) {
      error.textContent = `Could not list the models: ${messageOf(caught)}`;
    }
  }

  async function pollMetrics() {
    const text = await (await callApi('/metrics')).text();
    const samples = parseMetrics(text, (name) => COUNTERS.has(name));
    /** @type {Map<string, number>} */
    const values = new Map([['requests', sum(samples, 'mms_requests_total')]]);
    for (const model of models.models) {
      // Metrics label a model by its id without the tag, and the tag as `variant`.
      const [name] = model.id.split(':');
      const mine = (/** @type {Record<string, string>} */ l) => l.model === name && l.variant === model.variant;
      values.set(`items ${model.id}`, sum(samples, 'mms_items_processed_total', mine));
      values.set(`tokens ${model.id}`, sum(samples, 'mms_generated_tokens_total', mine));
    }
    rates.add(performance.now(), values);
    const rate = rates.rate('requests');
    rateText.textContent = rate === undefined ? '—' : rate.toFixed(2);
    totalText.textContent = String(values.get('requests'));
    showModelRates();
  }

  let polls = 0;
  async function tick() {
    if (document.visibilityState === 'visible') {
      try {
        if (++polls % MODELS_EVERY_POLLS === 0) await refreshModels();
        await pollMetrics();
      } catch (caught) {
        error.textContent = `Could not read /metrics: ${messageOf(caught)}`;
      }
    }
    setTimeout(() => void tick(), POLL_MS);
  }

  models.addEventListener('models', render);
  byId('models-refresh').addEventListener('click', () => void refreshModels());
  void refreshModels().then(tick);
}

/** @param {NonNullable<import('./models.js').ModelInfo['agreement']>} agreement */
function agreementText(agreement) {
  if (agreement.status === 'measuring') return 'measuring…';
  if (agreement.status === 'unknown') return `unknown: ${agreement.reason}`;
  return agreement.sessions
    .map((s) => {
      const top = s.top1 !== undefined ? `, top-1 ${(s.top1 * 100).toFixed(0)}%` + (s.top5 !== undefined ? `, top-5 ${(s.top5 * 100).toFixed(0)}%` : '') : '';
      return `${s.session}: cosine ${s.cosine_mean.toFixed(4)} (min ${s.cosine_min.toFixed(4)})${top}`;
    })
    .join('; ');
}
