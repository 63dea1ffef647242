/**
 * A service's zod request schema as JSON Schema (zod's own `z.toJSONSchema`, the input side):
 * what the OpenAPI document and the MCP tools describe. Inside the server an image field holds
 * bytes (zod checks a Uint8Array, which JSON Schema cannot say): in JSON it is a base64 or data:
 * URL string, in a multipart form a file.
 */
import { z } from 'zod';

export const IMAGE_FIELD_DESCRIPTION = 'The image: base64 of the file (JPEG, PNG, WebP, GIF, TIFF) or a data: URL';

export interface ObjectJsonSchema {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
  [key: string]: unknown;
}

/** An answer schema (answer-schemas.ts) as JSON Schema (the output side). */
export function answerJsonSchema(schema: z.ZodType): Record<string, unknown> {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'output' }) as Record<string, unknown>;
  return json;
}

/** The request's JSON Schema for a JSON body (`json`) or a multipart form (`form`: images as files). */
export function requestJsonSchema(schema: z.ZodType, body: 'json' | 'form'): ObjectJsonSchema {
  const { $schema: _dialect, ...json } = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as ObjectJsonSchema & { $schema?: string };
  const image = body === 'json' ? { type: 'string', description: IMAGE_FIELD_DESCRIPTION } : { type: 'string', format: 'binary', description: 'The image file' };
  const properties = { ...json.properties };
  if (properties.image) properties.image = image;
  if (properties.images) properties.images = { ...properties.images, items: image };
  return { ...json, properties };
}
