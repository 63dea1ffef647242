/**
 * Fault drill: SIGTERM with streams open. Chats (HTTP server-sent events and gRPC streams) and a
 * caption stream are mid-generation when the process is told to stop: each stream ends, with its
 * last event or an error event, within the drain deadline, and the process exits 0.
 */
import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { readFile } from 'node:fs/promises';
import { describe, it } from 'node:test';
import { readEventStream } from '../helpers/event-stream-reader.js';
import { inferenceClient } from '../helpers/grpc-client.js';
import { start, stop, withTimeout, type Started } from '../helpers/process-clients.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { tinySmolVlmDir, tinyVitGpt2Dir } from '../helpers/test-models.js';

const DRAIN_MS = 1500;

type StreamEnd = 'done' | 'error';

/** A stream read to its end, and how it ended. */
function readSse(response: Promise<Response>, isEnd: (text: string) => StreamEnd | undefined) {
  const { started, text } = readEventStream(response);
  return { started, ended: text.then((body) => ({ end: isEnd(body), text: body })) };
}

describe('the server process: SIGTERM with streams open', () => {
  it('ends every open chat and caption stream within the drain deadline, then exits 0', async () => {
    let started: Started | undefined;
    try {
      started = await start(['--model-dir', `chat=${await tinySmolVlmDir()}`, '--model-dir', `captioner=${await tinyVitGpt2Dir()}`, '--instances', '1'], {
        MMS_DRAIN_TIMEOUT_MS: String(DRAIN_MS),
      });
      const { server, closed } = started;
      await withTimeout(server.ready(), 60_000, 'the models to be ready');
      const photo = await readFile(sharedImage('chelsea.png'));
      const dataUrl = `data:image/png;base64,${photo.toString('base64')}`;
      const models = (await (await fetch(`${server.url}/v1/models`)).json()) as { data: Array<{ id: string; context_tokens?: number; max_new_tokens_limit?: number }> };
      const context = models.data.find((model) => model.id === 'chat')!.context_tokens!;
      const captionLimit = models.data.find((model) => model.id === 'captioner')!.max_new_tokens_limit!;

      // As long as the models allow, so that they are still decoding at SIGTERM.
      const chatBody = JSON.stringify({
        model: 'chat',
        stream: true,
        max_tokens: context - 128,
        min_tokens: context - 128,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: dataUrl } }, { type: 'text', text: 'Describe it.' }] }],
      });
      const chatEnd = (text: string): StreamEnd | undefined => (/^data: \{"error"/m.test(text) ? 'error' : /^data: \[DONE\]$/m.test(text) ? 'done' : undefined);
      const chats = Array.from({ length: 3 }, () =>
        readSse(fetch(`${server.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: chatBody }), chatEnd),
      );
      const captionForm = new FormData();
      captionForm.append('image', new Blob([new Uint8Array(photo)], { type: 'image/png' }), 'chelsea.png');
      for (const [name, value] of Object.entries({ stream: 'true', max_new_tokens: String(captionLimit), min_new_tokens: String(captionLimit) })) captionForm.append(name, value);
      const caption = readSse(fetch(`${server.url}/v1/caption`, { method: 'POST', body: captionForm }), (text) =>
        /^event: done$/m.test(text) ? 'done' : /^event: error$/m.test(text) ? 'error' : undefined,
      );

      const client = inferenceClient(server.grpcPort);
      const grpcChat = new Promise<{ end: StreamEnd; detail: string }>((resolve) => {
        const call = client.Chat!.call(client, {
          model: 'chat',
          max_tokens: context - 128,
          min_tokens: context - 128,
          messages: [{ role: 'user', parts: [{ type: 'image', image: photo }, { type: 'text', text: 'Describe it.' }] }],
        }) as grpc.ClientReadableStream<unknown>;
        call.on('data', () => {});
        call.on('error', (error: grpc.ServiceError) => resolve({ end: 'error', detail: `${grpc.status[error.code]} ${error.details}` }));
        call.on('end', () => resolve({ end: 'done', detail: '' }));
      });

      await withTimeout(Promise.all([...chats, caption].map((stream) => stream.started)), 60_000, 'every stream to start');
      const sigtermAt = performance.now();
      server.kill('SIGTERM');
      const ends = await withTimeout(Promise.all([...chats, caption].map((stream) => stream.ended)), DRAIN_MS + 10_000, 'every HTTP stream to end');
      const grpcEnd = await withTimeout(grpcChat, DRAIN_MS + 10_000, 'the gRPC chat to end');
      client.close();
      const exit = await withTimeout(server.exited, DRAIN_MS + 10_000, 'the process to exit');
      const exitedAfterMs = performance.now() - sigtermAt;
      await withTimeout(closed, 5000, 'the process stdout to close');

      const warnings = server.logs.filter((line) => (line.level as number) >= 40).map((line) => `${String(line.msg)} ${JSON.stringify(line.err ?? '')}`);
      ends.forEach(({ end, text }, i) => assert.ok(end, `stream ${i} ended without its last event or an error event:\n${text.slice(-300)}\nwarnings: ${warnings.join('; ')}`));
      assert.ok(grpcEnd.end === 'done' || /UNAVAILABLE/.test(grpcEnd.detail), `gRPC chat: ${grpcEnd.detail}`);
      assert.deepEqual(exit, { code: 0, signal: null });
      assert.ok(exitedAfterMs < DRAIN_MS + 5000, `exited ${Math.round(exitedAfterMs)} ms after SIGTERM (drain ${DRAIN_MS} ms)`);
      console.log(`stream ends: ${ends.map((e) => e.end).join(', ')}, gRPC ${grpcEnd.end}; exited ${Math.round(exitedAfterMs)} ms after SIGTERM`);
    } finally {
      stop(started?.server);
    }
  });
});
