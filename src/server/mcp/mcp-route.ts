/**
 * The Model Context Protocol endpoint (`/mcp`, streamable HTTP, stateless: each POST is a
 * JSON-RPC message answered as JSON) with the official TypeScript SDK. Tool calls run the task
 * services as HTTP and gRPC do: the same validation (the services' zod schemas), batchers,
 * limits, admission and metrics (`transport="mcp"`). A call the service refuses is a tool error
 * (`isError`, the code and message as text and structured content), what an agent can read and
 * correct; a call of an unknown tool is a protocol error.
 */
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CallToolRequestSchema, ErrorCode, ListToolsRequestSchema, McpError, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import express, { type Request, type Response, type Router } from 'express';
import { ApiError, toApiError } from '../../errors.js';
import type { Admission } from '../admission.js';
import type { ServerMetrics } from '../metrics.js';
import { imageBytesFromString } from '../schemas.js';
import { newCallContext, runService, type ServiceDeps } from '../services/index.js';
import type { Principal } from '../access/principal.js';
import { keyIdOf } from '../access/access-control.js';
import { isImageUrl } from '../image-url/index.js';
import { MCP_TOOLS, type McpTool } from './mcp-tools.js';

export interface McpDeps {
  services: ServiceDeps;
  admission: Admission;
  metrics: ServerMetrics;
  requestTimeoutMs: number;
  /** Largest JSON-RPC body (images arrive base64 inside it). */
  jsonBodyBytes: number;
  version: string;
}

export function mcpRoutes(deps: McpDeps): Router {
  const router = express.Router();
  router.post('/mcp', express.json({ limit: deps.jsonBodyBytes }), async (req: Request, res: Response) => {
    const server = mcpServer(deps, req, res.locals.signal, res.locals.principal);
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  });
  // Stateless: no server-initiated stream to open, no session to end.
  router.all('/mcp', (_req, res) => {
    res.status(405).set('Allow', 'POST').json({ jsonrpc: '2.0', error: { code: -32000, message: 'this MCP endpoint is stateless: POST JSON-RPC messages' }, id: null });
  });
  return router;
}

function mcpServer(deps: McpDeps, req: Request, signal: AbortSignal, principal: Principal | undefined): Server {
  const server = new Server({ name: 'multimodal-inference-server', version: deps.version }, { capabilities: { tools: {} } });
  server.setRequestHandler(ListToolsRequestSchema, () => ({
    tools: MCP_TOOLS.map(({ name, title, description, inputSchema }) => ({ name, title, description, inputSchema: inputSchema as { type: 'object' } })),
  }));
  server.setRequestHandler(CallToolRequestSchema, async (request) => {
    const tool = MCP_TOOLS.find((t) => t.name === request.params.name);
    if (!tool) throw new McpError(ErrorCode.InvalidParams, `no tool '${request.params.name}' (tools: ${MCP_TOOLS.map((t) => t.name).join(', ')})`);
    return callTool(deps, tool, request.params.arguments ?? {}, req, signal, principal);
  });
  return server;
}

/**
 * One tool call through its service, with the admission, deadline and metrics of any request;
 * `signal` is the HTTP request's (request-context.ts): it fires when the client leaves.
 */
async function callTool(deps: McpDeps, tool: McpTool, args: Record<string, unknown>, req: Request, signal: AbortSignal, principal: Principal | undefined): Promise<CallToolResult> {
  const finish = deps.metrics.startRequest('mcp');
  const call = newCallContext(signal, Date.now() + deps.requestTimeoutMs);
  call.principal = principal;
  let leave: (() => void) | undefined;
  try {
    leave = deps.admission.enter(tool.service.task, { client: req.socket.remoteAddress });
    const raw = tool.toRaw ? tool.toRaw(withImages(args, deps.services.imageBytesLimit)) : withImages(args, deps.services.imageBytesLimit);
    const answer = (await runService(tool.service, deps.services, raw, call)) as Record<string, unknown>;
    finish({ ...call.labels, task: tool.service.name ?? tool.service.task, code: 'ok', keyId: keyIdOf(principal) });
    return tool.present((tool.service.http.answer?.(answer) ?? answer) as Record<string, unknown>);
  } catch (error) {
    const apiError = toApiError(error);
    finish({ ...call.labels, task: tool.service.name ?? tool.service.task, code: apiError.code, keyId: keyIdOf(principal) });
    return { isError: true, content: [{ type: 'text', text: `${apiError.code}: ${apiError.message}` }], structuredContent: apiError.toJSON() };
  } finally {
    leave?.();
  }
}

/** The arguments with `image` / `images` strings (base64 or data URLs) decoded to bytes. */
function withImages(args: Record<string, unknown>, maxBytes: number): Record<string, unknown> {
  const decode = (value: unknown) => {
    if (typeof value !== 'string') throw new ApiError('invalid_request', 'an image is a base64 string, a data: URL or an http(s) URL');
    return isImageUrl(value) ? value : imageBytesFromString(value, maxBytes); // URLs: fetched (or refused) by runService
  };
  return {
    ...args,
    ...(args.image !== undefined && { image: decode(args.image) }),
    ...(Array.isArray(args.images) && { images: args.images.map(decode) }),
  };
}
