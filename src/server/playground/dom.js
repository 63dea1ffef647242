// @ts-check
/** Small DOM helpers shared by the panels. */

/**
 * The element with this id, typed by the caller.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} [type]
 * @returns {T}
 */
export function byId(id, type) {
  const element = document.getElementById(id);
  if (!element) throw new Error(`#${id} is missing from the page`);
  if (type && !(element instanceof type)) throw new Error(`#${id} is not a ${type.name}`);
  return /** @type {T} */ (element);
}

/**
 * A new element with text and children.
 * @param {string} tag
 * @param {{ className?: string, text?: string }} [props]
 * @param {Node[]} [children]
 */
export function el(tag, props = {}, children = []) {
  const element = document.createElement(tag);
  if (props.className) element.className = props.className;
  if (props.text !== undefined) element.textContent = props.text;
  element.append(...children);
  return element;
}

/**
 * Scores as labelled bars: the percentage is text, the bar repeats it for the eye.
 * @param {HTMLElement} list an <ol>
 * @param {{ label: string, score: number }[]} items
 * @param {{ percent?: boolean }} [options] percent: scores are probabilities (else shown as they are, e.g. cosines)
 */
export function renderBars(list, items, options = { percent: true }) {
  const max = options.percent ? 1 : Math.max(1e-9, ...items.map((i) => Math.abs(i.score)));
  list.replaceChildren(
    ...items.map((item) => {
      const fill = el('div', { className: 'bar-fill' });
      // CSSOM, not a style attribute: the Content-Security-Policy allows no inline styles.
      fill.style.width = `${Math.max(0, Math.min(1, Math.abs(item.score) / max)) * 100}%`;
      const value = options.percent ? `${(item.score * 100).toFixed(1)}%` : item.score.toFixed(3);
      return el('li', { className: 'bar-row' }, [
        el('span', { className: 'bar-label', text: item.label }),
        el('span', { className: 'bar-value', text: value }),
        el('div', { className: 'bar-track' }, [fill]),
      ]);
    }),
  );
}

/**
 * Fills a <select> with options, keeping the chosen value when it is still offered.
 * @param {HTMLSelectElement} select
 * @param {{ value: string, label: string }[]} options
 * @param {string} [preferred] chosen when the current value is not offered
 */
export function fillSelect(select, options, preferred) {
  const current = select.value;
  select.replaceChildren(...options.map((o) => new Option(o.label, o.value)));
  const values = options.map((o) => o.value);
  if (values.includes(current)) select.value = current;
  else if (preferred !== undefined && values.includes(preferred)) select.value = preferred;
}

/** An object URL for a blob that replaces (and releases) the image's previous one. @param {HTMLImageElement} img @param {Blob} blob */
export function showBlob(img, blob) {
  const old = img.src;
  img.src = URL.createObjectURL(blob);
  if (old.startsWith('blob:')) URL.revokeObjectURL(old);
}
