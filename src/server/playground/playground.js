// @ts-check
/**
 * The playground page: wires the API key field, the photo input and the panels. A new photo runs
 * every image panel at once; chat waits for a question.
 */
import { apiKey, setApiKey } from './api.js';
import { attentionPanel } from './attention-panel.js';
import { captionPanel } from './caption-panel.js';
import { chatPanel } from './chat-panel.js';
import { classifyPanel } from './classify-panel.js';
import { byId } from './dom.js';
import { ModelDirectory } from './models.js';
import { modelsPanel } from './models-panel.js';
import { PhotoInput } from './photo-input.js';
import { zeroShotPanel } from './zero-shot-panel.js';

function apiKeyField() {
  const form = byId('api-key-form', HTMLFormElement);
  const field = byId('api-key', HTMLInputElement);
  field.value = apiKey();
  field.addEventListener('input', () => setApiKey(field.value.trim()));
  form.addEventListener('submit', (event) => event.preventDefault());
  byId('api-key-clear').addEventListener('click', () => {
    field.value = '';
    setApiKey('');
    field.focus();
  });
}

function main() {
  apiKeyField();
  const models = new ModelDirectory();
  const photos = new PhotoInput();
  const classify = classifyPanel(photos, models);
  const zeroShot = zeroShotPanel(photos, models);
  const attention = attentionPanel(photos, models, zeroShot);
  const caption = captionPanel(photos, models);
  chatPanel(photos, models);
  modelsPanel(models);

  // Scoring labels also redraws where they are.
  byId('zero-shot-form').addEventListener('submit', () => void attention.localize());
  photos.addEventListener('photo', async () => {
    await models.loaded;
    void classify.run();
    void zeroShot.run();
    void attention.run();
    void attention.localize();
    void caption.run();
  });
}

main();
