// @ts-check
/**
 * The photo every panel works on: from the file picker, a drop on the drop zone, a paste, or a
 * sample button. Announces each new photo with a `photo` event.
 */
import { byId, showBlob } from './dom.js';

/** @typedef {{ blob: Blob, name: string, width: number, height: number }} Photo */

export class PhotoInput extends EventTarget {
  /** @type {Photo | undefined} */
  photo = undefined;

  constructor() {
    super();
    this.fileInput = byId('image-file', HTMLInputElement);
    this.dropZone = byId('drop-zone');
    this.preview = byId('photo-preview', HTMLImageElement);
    this.figure = byId('photo-figure');
    this.caption = byId('photo-caption');
    this.error = byId('image-error');

    this.fileInput.addEventListener('change', () => {
      const file = this.fileInput.files?.[0];
      if (file) void this.use(file, file.name);
    });
    this.dropZone.addEventListener('dragover', (event) => {
      event.preventDefault(); // allows the drop
      this.dropZone.classList.add('dragging');
    });
    this.dropZone.addEventListener('dragleave', () => this.dropZone.classList.remove('dragging'));
    this.dropZone.addEventListener('drop', (event) => {
      event.preventDefault();
      this.dropZone.classList.remove('dragging');
      const file = event.dataTransfer?.files[0];
      if (file) void this.use(file, file.name);
    });
    document.addEventListener('paste', (event) => {
      const file = [...(event.clipboardData?.files ?? [])].find((f) => f.type.startsWith('image/'));
      if (file) void this.use(file, file.name || 'pasted image');
    });
    for (const button of document.querySelectorAll('button[data-sample]')) {
      button.addEventListener('click', () => void this.useSample(/** @type {HTMLElement} */ (button).dataset.sample ?? ''));
    }
  }

  /** @param {string} name */
  async useSample(name) {
    try {
      const response = await fetch(`/playground/samples/${encodeURIComponent(name)}`);
      if (!response.ok) throw new Error(`the sample ${name} is missing (HTTP ${response.status})`);
      await this.use(await response.blob(), name);
    } catch (error) {
      this.error.textContent = `Could not load the sample: ${error instanceof Error ? error.message : error}`;
    }
  }

  /** @param {Blob} blob @param {string} name */
  async use(blob, name) {
    this.error.textContent = '';
    if (blob.type && !blob.type.startsWith('image/')) {
      this.error.textContent = `${name} is not an image (${blob.type}): choose a JPEG, PNG, WebP or GIF.`;
      return;
    }
    const size = await imageSize(blob);
    if (!size) {
      this.error.textContent = `${name} does not decode as an image here; the server may still read it.`;
    }
    this.photo = { blob, name, width: size?.width ?? 0, height: size?.height ?? 0 };
    showBlob(this.preview, blob);
    this.preview.alt = `The chosen photo, ${name}`;
    this.caption.textContent = size ? `${name}, ${size.width} × ${size.height} pixels` : name;
    this.figure.hidden = false;
    this.dispatchEvent(new Event('photo'));
  }

  /** The photo as a `data:` URL (chat messages carry images that way). */
  async dataUrl() {
    const blob = this.photo?.blob;
    if (!blob) return undefined;
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(/** @type {string} */ (reader.result));
      reader.onerror = () => reject(reader.error);
      reader.readAsDataURL(blob);
    });
  }
}

/** @param {Blob} blob @returns {Promise<{ width: number, height: number } | undefined>} */
async function imageSize(blob) {
  try {
    const bitmap = await createImageBitmap(blob);
    const size = { width: bitmap.width, height: bitmap.height };
    bitmap.close();
    return size;
  } catch {
    return undefined;
  }
}
