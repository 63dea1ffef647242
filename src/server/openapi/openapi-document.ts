/**
 * The OpenAPI 3.1 document of the HTTP API (`GET /openapi.json`), built from what the server
 * runs: every task service's route with its request schema (the zod schema it validates with, as
 * JSON Schema: a JSON body, and a multipart form where the route takes one) and its example
 * request, the answers it can give (JSON, server-sent events, a PNG), the error table as one
 * shared schema, and the status and model routes. Nothing is written twice: a field is described
 * where it is checked.
 */
import { ERROR_CODES } from '../../errors.js';
import { TASK_SERVICES, type TaskService } from '../services/index.js';
import { SERVER_VERSION } from '../version.js';
import { answerJsonSchema, requestJsonSchema } from './request-json-schema.js';

type Operation = Record<string, unknown>;

const ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: {
    error: {
      type: 'object',
      required: ['code', 'message'],
      properties: {
        code: { type: 'string', enum: Object.keys(ERROR_CODES), description: 'The error table: the same code over HTTP (status) and gRPC (status code)' },
        message: { type: 'string' },
        type: { type: 'string', description: "OpenAI's error type (invalid_request_error, not_found_error, rate_limit_error, server_error, …)" },
        param: { type: 'null' },
      },
    },
  },
};

/** Each HTTP status of the error table, with the codes that answer it. */
function errorResponses(): Record<string, unknown> {
  const byStatus = new Map<number, string[]>();
  for (const [code, { http }] of Object.entries(ERROR_CODES)) byStatus.set(http, [...(byStatus.get(http) ?? []), code]);
  return Object.fromEntries(
    [...byStatus].map(([status, codes]) => [String(status), { description: codes.join(', '), content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } }]),
  );
}

function serviceOperation(service: TaskService): Operation {
  const json = requestJsonSchema(service.schema, 'json');
  const takesForm = service.http.body !== 'json';
  const answers: Record<string, unknown> = { 'application/json': { schema: answerJsonSchema(service.http.answerSchema) } };
  if (service.http.stream) answers['text/event-stream'] = { schema: { type: 'string', description: 'with `stream: true`: server-sent events' } };
  if (service.http.binary) answers['image/png'] = { schema: { type: 'string', format: 'binary' } };
  return {
    operationId: (service.name ?? service.task).replace(/-(\w)/g, (_, c: string) => c.toUpperCase()),
    tags: [service.task],
    requestBody: {
      required: true,
      content: {
        'application/json': { schema: json, examples: { example: { value: service.http.example } } },
        ...(takesForm && { 'multipart/form-data': { schema: requestJsonSchema(service.schema, 'form') } }),
      },
    },
    responses: { '200': { description: 'The answer', content: answers }, ...errorResponses() },
  };
}

const jsonAnswer = (description: string) => ({ description, content: { 'application/json': { schema: { type: 'object' } } } });

export function openApiDocument(): Record<string, unknown> {
  const paths: Record<string, Record<string, Operation>> = {};
  for (const service of TASK_SERVICES) paths[service.http.path] = { post: serviceOperation(service) };
  paths['/v1/zero-shot/alignments'] = { ...paths['/v1/zero-shot/alignments'], get: { operationId: 'listAlignments', responses: { '200': jsonAnswer('The fitted alignments') } } };
  const name = [{ name: 'name', in: 'path', required: true, schema: { type: 'string' } }];
  paths['/v1/zero-shot/alignments/{name}'] = {
    get: { operationId: 'getAlignment', parameters: name, responses: { '200': jsonAnswer('The alignment and its measures'), ...errorResponses() } },
    delete: { operationId: 'deleteAlignment', parameters: name, responses: { '200': jsonAnswer('Deleted'), ...errorResponses() } },
  };
  paths['/v1/models'] = { get: { operationId: 'listModels', responses: { '200': jsonAnswer('The served models, in the OpenAI list shape, with their state and settings') } } };
  paths['/healthz'] = { get: { operationId: 'healthz', responses: { '200': jsonAnswer('The process answers') } } };
  paths['/readyz'] = { get: { operationId: 'readyz', responses: { '200': jsonAnswer('Models loaded and warm'), '503': jsonAnswer('Not ready: each model\'s state') } } };
  paths['/metrics'] = { get: { operationId: 'metrics', responses: { '200': { description: 'Prometheus text exposition', content: { 'text/plain': { schema: { type: 'string' } } } } } } };
  paths['/mcp'] = {
    post: {
      operationId: 'mcp',
      description: 'The Model Context Protocol endpoint (streamable HTTP, stateless JSON-RPC): tools for every capability above',
      requestBody: { required: true, content: { 'application/json': { schema: { type: 'object' } } } },
      responses: { '200': jsonAnswer('The JSON-RPC answer') },
    },
  };
  return {
    openapi: '3.1.0',
    info: {
      title: 'multimodal-inference-server',
      version: SERVER_VERSION,
      description: 'Vision and vision-language models over HTTP (this document), gRPC (proto/multimodal/v1/inference.proto) and MCP (/mcp).',
    },
    paths,
    components: { schemas: { Error: ERROR_SCHEMA } },
  };
}
