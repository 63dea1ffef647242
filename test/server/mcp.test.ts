/**
 * The MCP endpoint (`/mcp`) through the official SDK's own client, connected to the real server
 * serving a classifier, a CLIP, a captioner and a chat model (all generated): the tools are
 * listed with schemas derived from the request schemas, each tool is called with a shared photo
 * and answers with structured content and a summary (the overlay as an image), bad input is a
 * tool error, not a crash, and the calls count in the metrics as transport="mcp".
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import sharp from 'sharp';
import request from 'supertest';
import type { RunningServer } from '../../src/server/server.js';
import { SERVER_VERSION } from '../../src/server/version.js';
import { sharedImage } from '../helpers/shared-dir.js';
import { everyTaskModelFlags } from '../helpers/test-models.js';
import { startTestServer } from '../helpers/test-server.js';

type ToolResult = { isError?: boolean; content: { type: string; text?: string; data?: string; mimeType?: string }[]; structuredContent?: Record<string, any> };

describe('MCP tool server', () => {
  let server: RunningServer;
  let client: Client;
  let photo: string;

  const call = async (name: string, args: Record<string, unknown>) => (await client.callTool({ name, arguments: args })) as ToolResult;

  before(async () => {
    server = await startTestServer(await everyTaskModelFlags());
    photo = (await readFile(sharedImage('chelsea.png'))).toString('base64');
    client = new Client({ name: 'test-agent', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${server.httpPort}/mcp`)));
  });
  after(async () => {
    await client?.close();
    await server?.close();
  });

  it('lists the tools, with input schemas from the request schemas (images as strings)', async () => {
    assert.equal(client.getServerVersion()?.version, SERVER_VERSION);
    assert.equal(SERVER_VERSION, JSON.parse(await readFile(new URL('../../package.json', import.meta.url), 'utf8')).version, 'the version MCP reports is package.json\'s');
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name), ['classify_image', 'zero_shot_classify', 'embed', 'caption_image', 'ask_about_image', 'explain_image']);
    const zeroShot = tools.find((t) => t.name === 'zero_shot_classify')!;
    const properties = zeroShot.inputSchema.properties as Record<string, { type?: string; enum?: string[] }>;
    assert.equal(properties.image!.type, 'string');
    assert.deepEqual(properties.strategy!.enum, ['plain', 'template', 'descriptive', 'ensemble']);
    assert.deepEqual(zeroShot.inputSchema.required, ['labels']);
    for (const tool of tools) assert.ok(tool.description && tool.description.length > 20, tool.name);
  });

  it('calls every tool with a shared photo, through the same services as HTTP', async () => {
    const classified = await call('classify_image', { image: photo, top_k: 3 });
    assert.ok(!classified.isError, JSON.stringify(classified));
    const http = await request(server.http).post('/v1/classify').send({ image: photo, top_k: 3 }).expect(200);
    assert.deepEqual(classified.structuredContent!.predictions, http.body.predictions, 'the same answer as over HTTP');
    assert.match(classified.content[0]!.text!, /\(\d+\.\d%\)/);

    const zeroShot = await call('zero_shot_classify', { image: `data:image/png;base64,${photo}`, labels: ['cat', 'dog'], strategy: 'plain' });
    assert.deepEqual(zeroShot.structuredContent!.predictions.map((p: { label: string }) => p.label).sort(), ['cat', 'dog']);

    const embedded = await call('embed', { input: ['a cat', 'a dog'] });
    assert.equal(embedded.structuredContent!.data.length, 2);

    const caption = await call('caption_image', { image: photo, max_new_tokens: 5 });
    assert.equal(caption.content[0]!.text, caption.structuredContent!.caption);

    const answer = await call('ask_about_image', { image: photo, question: 'What is in this picture?', max_tokens: 6 });
    assert.ok(!answer.isError, JSON.stringify(answer));
    assert.equal(answer.content[0]!.text, answer.structuredContent!.choices[0].message.content);
    assert.ok(answer.structuredContent!.usage.prompt_tokens > 16, 'the image is in the prompt');

    const explained = await call('explain_image', { image: photo, model: 'vit' });
    const image = explained.content.find((c) => c.type === 'image')!;
    assert.equal(image.mimeType, 'image/png');
    const meta = await sharp(Buffer.from(image.data!, 'base64')).metadata();
    assert.deepEqual([meta.width, meta.height], [451, 300], 'the overlay is over the photo');
    assert.ok(explained.structuredContent!.grid, 'the grid as numbers');
  });

  it('answers bad input with a tool error, and an unknown tool with a protocol error', async () => {
    const badImage = await call('classify_image', { image: 'this is not an image' });
    assert.equal(badImage.isError, true);
    assert.match(badImage.content[0]!.text!, /^invalid_image: /);
    assert.equal(badImage.structuredContent!.error.code, 'invalid_image');
    const unknownField = await call('zero_shot_classify', { image: photo, labels: ['cat'], colour: 'blue' });
    assert.match(unknownField.content[0]!.text!, /^invalid_request: .*colour/);
    const noLabels = await call('zero_shot_classify', { image: photo });
    assert.equal(noLabels.isError, true);
    await assert.rejects(client.callTool({ name: 'no_such_tool', arguments: {} }), /no tool 'no_such_tool'/);
    // Still answering.
    assert.ok(!(await call('classify_image', { image: photo })).isError);
  });

  it('counts tool calls in the metrics as transport="mcp"', async () => {
    const metrics = (await request(server.http).get('/metrics').expect(200)).text;
    assert.match(metrics, /mms_requests_total\{model="vit",variant="fp32",task="image-classification",transport="mcp",code="ok"\} [1-9]/);
    assert.match(metrics, /mms_requests_total\{[^}]*transport="mcp",code="invalid_image"\} [1-9]/);
  });
});
