/** Reading a server-sent-event answer in tests: when its first event came, and its whole text. */

export interface EventStreamRead {
  /** Resolves at the first `data:` line. */
  started: Promise<void>;
  /** The whole body, once the stream ends; a broken connection is appended as `[connection: …]`. */
  text: Promise<string>;
}

export function readEventStream(response: Promise<Response>): EventStreamRead {
  let markStarted!: () => void;
  const started = new Promise<void>((resolve) => (markStarted = resolve));
  const text = (async () => {
    const reader = (await response).body!.pipeThrough(new TextDecoderStream()).getReader();
    let body = '';
    for (;;) {
      const { value, done } = await reader.read().catch((error: Error) => ({ value: `\n[connection: ${error.message}]`, done: true }));
      if (done) return body + (value ?? '');
      body += value;
      if (body.includes('data:')) markStarted();
    }
  })();
  return { started, text };
}
