// @ts-check
/**
 * One panel's request at a time: a new run cancels the one still in flight (the latest control
 * change wins), and the panel's status and error lines say what happened.
 */
import { messageOf } from './api.js';

export class Runner {
  /** @type {AbortController | undefined} */
  controller = undefined;

  /** @param {HTMLElement} status @param {HTMLElement} error */
  constructor(status, error) {
    this.status = status;
    this.error = error;
  }

  /**
   * @param {string} working what the status says meanwhile
   * @param {(signal: AbortSignal) => Promise<string | void>} work resolves to the status to show after
   * @returns {Promise<boolean>} whether the work finished (not failed, not replaced)
   */
  async run(working, work) {
    this.controller?.abort();
    const controller = new AbortController();
    this.controller = controller;
    this.status.textContent = working;
    this.error.textContent = '';
    try {
      const done = await work(controller.signal);
      if (this.controller === controller) this.status.textContent = done ?? '';
      return !controller.signal.aborted;
    } catch (error) {
      if (controller.signal.aborted) return false;
      this.status.textContent = '';
      this.error.textContent = messageOf(error);
      return false;
    } finally {
      if (this.controller === controller) this.controller = undefined;
    }
  }

  cancel() {
    this.controller?.abort();
  }

  /** Shows a message that is not a request's (no photo yet, no model). @param {string} message */
  fail(message) {
    this.cancel();
    this.status.textContent = '';
    this.error.textContent = message;
  }
}

/** "answered in 25 ms" from an answer's `timing.total_ms`. @param {{ timing?: { total_ms?: number } }} answer */
export function answeredIn(answer) {
  const ms = answer.timing?.total_ms;
  return typeof ms === 'number' ? `Answered in ${ms < 100 ? ms.toFixed(1) : Math.round(ms)} ms.` : 'Answered.';
}
