// @ts-check
/**
 * Server-sent events read from a fetch response (EventSource cannot POST or send headers).
 * Yields `{event, data}` per event as its blank line arrives; `event` is 'message' unless named.
 */

/**
 * @param {Response} response
 * @returns {AsyncGenerator<{ event: string, data: string }>}
 */
export async function* readEvents(response) {
  if (!response.body) return;
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = eventEnd(buffer)) !== undefined) {
        const parsed = parseEvent(buffer.slice(0, end.at));
        buffer = buffer.slice(end.at + end.length);
        if (parsed) yield parsed;
      }
    }
    const last = parseEvent(buffer);
    if (last) yield last;
  } finally {
    reader.releaseLock();
  }
}

/** Where the first event in `text` ends (a blank line, in any of the three line endings). @param {string} text */
function eventEnd(text) {
  const match = /\r\n\r\n|\n\n|\r\r/.exec(text);
  return match ? { at: match.index, length: match[0].length } : undefined;
}

/** @param {string} block */
function parseEvent(block) {
  let event = 'message';
  const data = [];
  for (const line of block.split(/\r\n|\n|\r/)) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length > 0 ? { event, data: data.join('\n') } : undefined;
}
