// @ts-check
/** The served models (`GET /v1/models`), shared by every panel's model picker. */
import { getJson } from './api.js';
import { fillSelect } from './dom.js';

/**
 * The fields of a `/v1/models` entry the page reads.
 * @typedef {{
 *   id: string, task: string, state: string, error?: string, family?: string, variant?: string,
 *   execution_provider?: string, random_weights?: boolean, prompt?: boolean,
 *   attention?: { layers: number, heads: number, grid: { rows: number, cols: number }, similarity_layers: number[] } | { unavailable: string },
 *   agreement?: { status: 'measuring' } | { status: 'unknown', reason: string } | { status: 'measured', inputs: number, sessions: { session: string, output: string, cosine_min: number, cosine_mean: number, top1?: number, top5?: number }[] },
 *   size_bytes?: number,
 * }} ModelInfo
 */

export class ModelDirectory extends EventTarget {
  /** @type {ModelInfo[]} */
  models = [];
  /** @type {() => void} */
  #markLoaded = () => {};
  /** Settles after the first refresh, answered or not (panels wait for it before their first run). */
  loaded = new Promise((resolve) => void (this.#markLoaded = () => resolve(undefined)));

  async refresh() {
    try {
      const list = /** @type {{ data: ModelInfo[] }} */ (await getJson('/v1/models'));
      this.models = list.data;
      this.dispatchEvent(new Event('models'));
    } finally {
      this.#markLoaded();
    }
  }

  /** @param {string} task */
  ofTask(task) {
    return this.models.filter((m) => m.task === task);
  }

  /** @param {string} id */
  get(id) {
    return this.models.find((m) => m.id === id);
  }

  /**
   * Keeps a panel's model picker filled with the models that can do its work.
   * @param {HTMLSelectElement} select
   * @param {(model: ModelInfo) => boolean} fits
   * @param {() => void} [onChange] called when the choice changes because the list did
   */
  bindPicker(select, fits, onChange) {
    const fill = () => {
      const before = select.value;
      const models = this.models.filter(fits);
      fillSelect(
        select,
        models.map((m) => ({ value: m.id, label: m.state === 'ready' ? m.id : `${m.id} (${m.state})` })),
        models.find((m) => m.state === 'ready')?.id,
      );
      select.disabled = models.length === 0;
      if (models.length === 0) select.replaceChildren(new Option('none served', ''));
      if (select.value !== before) onChange?.();
    };
    this.addEventListener('models', fill);
    fill();
  }
}

/** @param {ModelInfo} model */
export function hasAttention(model) {
  return model.attention !== undefined && 'layers' in model.attention;
}
