// @ts-check
/**
 * Visual chat: `POST /v1/chat/completions` with `stream: true` (OpenAI's chunks), each answer
 * shown as it is decoded. The whole conversation goes with every turn, the photo in the first
 * user turn (the server caches its features, so later turns do not encode it again); a new
 * photo starts a new conversation.
 */
import { ApiCallError, callApi, messageOf } from './api.js';
import { byId, el } from './dom.js';
import { readEvents } from './sse.js';

/** @typedef {{ role: 'user' | 'assistant', content: string | ({ type: 'text', text: string } | { type: 'image_url', image_url: { url: string } })[] }} Message */

/** @param {import('./photo-input.js').PhotoInput} photos @param {import('./models.js').ModelDirectory} models */
export function chatPanel(photos, models) {
  const form = byId('chat-form', HTMLFormElement);
  const model = byId('chat-model', HTMLSelectElement);
  const maxTokens = byId('chat-max-tokens', HTMLInputElement);
  const input = byId('chat-input', HTMLTextAreaElement);
  const send = byId('chat-send', HTMLButtonElement);
  const stop = byId('chat-stop', HTMLButtonElement);
  const log = byId('chat-log');
  const status = byId('chat-status');
  const error = byId('chat-error');
  models.bindPicker(model, (m) => m.task === 'image-text-to-text');

  /** @type {Message[]} */
  let history = [];
  /** @type {AbortController | undefined} */
  let streaming;
  /** Which conversation is current: an answer stopped by a reset must not land in the next one. */
  let conversation = 0;

  /** @param {'user' | 'assistant'} role @param {string} text @param {string} [attachment] */
  function addTurn(role, text, attachment) {
    const body = el('span', { className: 'text', text });
    const turn = el('div', { className: `chat-turn ${role}` }, [el('span', { className: 'speaker', text: role === 'user' ? 'You' : model.value || 'Model' })]);
    if (attachment) turn.append(el('span', { className: 'attachment', text: attachment }), el('br'));
    turn.append(body);
    log.append(turn);
    log.scrollTop = log.scrollHeight;
    return body;
  }

  function reset(note = '') {
    streaming?.abort();
    conversation += 1;
    history = [];
    log.replaceChildren();
    error.textContent = '';
    status.textContent = note;
  }

  /** @param {string} question */
  async function ask(question) {
    if (!model.value) {
      error.textContent = 'No chat model is served.';
      return;
    }
    error.textContent = '';
    /** @type {Message} */
    let turn = { role: 'user', content: question };
    let attachment;
    if (history.length === 0 && photos.photo) {
      const url = await photos.dataUrl();
      turn = { role: 'user', content: [{ type: 'image_url', image_url: { url } }, { type: 'text', text: question }] };
      attachment = `[photo: ${photos.photo.name}]`;
    }
    const mine = conversation;
    history.push(turn);
    const asked = addTurn('user', question, attachment);
    const answer = addTurn('assistant', '');
    // The log announces the answer once whole, not token by token.
    log.setAttribute('aria-busy', 'true');
    const controller = new AbortController();
    streaming = controller;
    send.disabled = true;
    stop.disabled = false;
    status.textContent = 'Answering…';
    let finish = '';
    try {
      const response = await callApi('/v1/chat/completions', {
        method: 'POST',
        signal: controller.signal,
        json: { model: model.value, messages: history, stream: true, max_tokens: maxTokens.valueAsNumber || 48 },
      });
      for await (const { data } of readEvents(response)) {
        if (data === '[DONE]') break;
        const chunk = JSON.parse(data);
        // OpenAI's framing sends an error after the stream started as a data event.
        if (chunk.error) throw new ApiCallError(`The answer failed midway: ${chunk.error.message}`, { code: chunk.error.code });
        const choice = chunk.choices?.[0];
        if (choice?.delta?.content) answer.textContent += choice.delta.content;
        if (choice?.finish_reason) finish = choice.finish_reason;
      }
      history.push({ role: 'assistant', content: answer.textContent ?? '' });
      status.textContent = finish === 'length' ? 'The answer reached the token limit.' : '';
    } catch (caught) {
      const stopped = controller.signal.aborted;
      if (mine !== conversation) {
        // reset() cleared the log and history already.
      } else if (stopped && answer.textContent) {
        // Keep what arrived: the next turn goes on from it.
        history.push({ role: 'assistant', content: answer.textContent });
        status.textContent = 'Stopped.';
      } else {
        // Nothing answered: the turn is taken back so that it can be asked again.
        history.pop();
        answer.closest('.chat-turn')?.remove();
        asked.closest('.chat-turn')?.remove();
        if (!input.value) input.value = question;
        status.textContent = '';
        if (!stopped) error.textContent = messageOf(caught);
      }
    } finally {
      log.removeAttribute('aria-busy');
      if (streaming === controller) streaming = undefined;
      send.disabled = false;
      stop.disabled = true;
    }
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const question = input.value.trim();
    if (!question || streaming) return;
    input.value = '';
    void ask(question);
  });
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  stop.addEventListener('click', () => streaming?.abort());
  byId('chat-reset').addEventListener('click', () => reset());
  photos.addEventListener('photo', () => {
    if (history.length > 0) reset('New photo: the conversation starts over.');
  });
  return { ask, reset };
}
