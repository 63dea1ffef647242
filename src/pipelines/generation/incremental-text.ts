/**
 * Text as tokens arrive, for streaming: each new token yields the text it completes. A token that
 * ends inside a multi-byte character decodes to U+FFFD until the rest arrives, so such a tail is
 * held back, and so is a tail that may be the start of a stop string; stop strings cut the text
 * where they start (and end the sequence).
 *
 *   const text = new IncrementalText((ids) => tokenizer.decode(ids, { skip_special_tokens: true }), ['\n']);
 *   const { delta, stopped } = text.push(id);
 */
export class IncrementalText {
  private readonly ids: number[] = [];
  private emitted = 0;
  private done = false;
  /** What the prompt decodes to: the new tokens' text follows it (and only that text is searched for stops). */
  readonly promptText: string;

  /** `prompt`: tokens the sequence continues, decoded with the new ones (a WordPiece `##` piece joins its word). */
  constructor(
    private readonly decodeIds: (ids: number[]) => string,
    private readonly stops: readonly string[] = [],
    private readonly prompt: readonly number[] = [],
  ) {
    this.promptText = prompt.length > 0 ? decodeIds([...prompt]) : '';
  }

  /** The text all new tokens so far decode to, cut at a stop string. */
  get text(): string {
    return this.cut(this.decode(this.ids)).text;
  }

  get stopped(): boolean {
    return this.done;
  }

  push(id: number): { delta: string; stopped: boolean } {
    if (this.done) return { delta: '', stopped: true };
    this.ids.push(id);
    const { text, stopped } = this.cut(this.decode(this.ids));
    // An unfinished character (U+FFFD at the end) waits for its next bytes, unless the text stops here.
    const ready = stopped ? text : this.withoutPartialStop(text.replace(/\uFFFD+$/u, ''));
    const delta = ready.length > this.emitted ? ready.slice(this.emitted) : '';
    this.emitted = Math.max(this.emitted, ready.length);
    this.done = stopped;
    return { delta, stopped };
  }

  /** The text without a tail that a stop string begins with (it may complete with the next token). */
  private withoutPartialStop(text: string): string {
    let held = 0;
    for (const stop of this.stops) {
      for (let length = Math.min(stop.length - 1, text.length); length > held; length--) {
        if (text.endsWith(stop.slice(0, length))) {
          held = length;
          break;
        }
      }
    }
    return text.slice(0, text.length - held);
  }

  private decode(ids: number[]): string {
    return this.prompt.length > 0 ? this.decodeIds([...this.prompt, ...ids]).slice(this.promptText.length) : this.decodeIds(ids);
  }

  private cut(text: string): { text: string; stopped: boolean } {
    let at = -1;
    for (const stop of this.stops) {
      const index = stop ? text.indexOf(stop) : -1;
      if (index >= 0 && (at < 0 || index < at)) at = index;
    }
    return at < 0 ? { text, stopped: false } : { text: text.slice(0, at), stopped: true };
  }
}
