/**
 * The MCP tools: each a task service (the same one HTTP and gRPC call) under a name and a
 * description an agent reads, its input schema derived from the service's own zod request schema
 * (JSON Schema, images as base64 or data-URL strings), and how its answer becomes tool content:
 * the answer as structured content plus a one-line summary (an image where the answer is one).
 */
import type { z } from 'zod';
import { IMAGE_FIELD_DESCRIPTION, requestJsonSchema } from '../openapi/request-json-schema.js';
import { chatService } from '../services/chat-service.js';
import { attentionService } from '../services/attention-service.js';
import { captionService } from '../services/caption-service.js';
import { classifyService } from '../services/classify-service.js';
import { embeddingsService } from '../services/embeddings-service.js';
import type { TaskService } from '../services/task-service.js';
import { zeroShotService } from '../services/zero-shot-service.js';

export type ToolContent = { type: 'text'; text: string } | { type: 'image'; data: string; mimeType: string };

export interface McpTool {
  name: string;
  title: string;
  description: string;
  service: TaskService;
  /** JSON Schema of the arguments. */
  inputSchema: Record<string, unknown>;
  /** The arguments as the service's raw request (images decoded by the caller). */
  toRaw?(args: Record<string, unknown>): Record<string, unknown>;
  /** The answer as tool content: a short summary (and an image), the answer itself as structured content. */
  present(answer: Record<string, unknown>): { content: ToolContent[]; structuredContent: Record<string, unknown> };
}


/** The service's request schema as JSON Schema (images as strings), without the fields the tool does not take. */
function inputSchemaOf(schema: z.ZodType, drop: readonly string[] = []): Record<string, unknown> {
  const json = requestJsonSchema(schema, 'json');
  const properties = Object.fromEntries(Object.entries(json.properties).filter(([key]) => !drop.includes(key)));
  return { ...json, properties, ...(json.required && { required: json.required.filter((key) => !drop.includes(key)) }) };
}

const text = (value: string): ToolContent => ({ type: 'text', text: value });
const percent = (score: number) => `${(100 * score).toFixed(1)}%`;
type Prediction = { label: string; score: number };
const predictionsText = (predictions: Prediction[]) => predictions.map((p) => `${p.label} (${percent(p.score)})`).join(', ');
const randomWeightsNote = (answer: Record<string, unknown>) => (answer.random_weights ? ' [random-weight model: the labels mean nothing]' : '');

export const MCP_TOOLS: readonly McpTool[] = [
  {
    name: 'classify_image',
    title: 'Classify an image',
    description: 'Top-k labels of an image from an image classifier (ViT, ImageNet labels for the catalog model), with scores.',
    service: classifyService as TaskService,
    inputSchema: inputSchemaOf(classifyService.schema),
    present: (answer) => ({ content: [text(`${predictionsText(answer.predictions as Prediction[])}${randomWeightsNote(answer)}`)], structuredContent: answer }),
  },
  {
    name: 'zero_shot_classify',
    title: 'Zero-shot classify an image',
    description:
      'Scores free-form labels for an image with CLIP. strategy: plain (the label), template (default "a photo of a {label}."), descriptive (descriptions per label), ensemble (several templates averaged); multi_label scores each label on its own.',
    service: zeroShotService as TaskService,
    inputSchema: inputSchemaOf(zeroShotService.schema, ['images']),
    present: (answer) => ({ content: [text(`${predictionsText(answer.predictions as Prediction[])}${randomWeightsNote(answer)}`)], structuredContent: answer }),
  },
  {
    name: 'embed',
    title: 'Embed texts or images',
    description: 'CLIP embeddings (L2-normalised, one space for texts and images) of a text, a list of texts, or images given as data: URLs among them.',
    service: embeddingsService as TaskService,
    inputSchema: inputSchemaOf(embeddingsService.schema),
    present: (answer) => {
      const data = answer.data as { embedding: number[] | string }[];
      return { content: [text(`${data.length} embedding${data.length === 1 ? '' : 's'} from ${String(answer.model)}`)], structuredContent: answer };
    },
  },
  {
    name: 'caption_image',
    title: 'Caption an image',
    description: 'A caption of an image from a captioning model (ViT-GPT2, BLIP); prompt: text the caption continues (BLIP).',
    service: captionService as TaskService,
    inputSchema: inputSchemaOf(captionService.schema, ['images', 'stream', 'embed', 'embed_model']),
    present: (answer) => ({ content: [text(String(answer.caption))], structuredContent: answer }),
  },
  {
    name: 'ask_about_image',
    title: 'Ask about an image',
    description: 'Asks a visual chat model (SmolVLM) a question about an image and returns its answer.',
    service: chatService as TaskService,
    inputSchema: {
      type: 'object',
      properties: {
        image: { type: 'string', description: IMAGE_FIELD_DESCRIPTION },
        question: { type: 'string', minLength: 1, maxLength: 10000, description: 'What to ask, e.g. "What is in this picture?"' },
        max_tokens: { type: 'integer', minimum: 1, maximum: 4096 },
        model: { type: 'string' },
      },
      required: ['question'],
      additionalProperties: false,
    },
    // The chat request of one user turn: the image (as the data URL the chat schema takes) and the question.
    toRaw: ({ image, question, ...rest }) => ({
      ...rest,
      messages: [{ role: 'user', content: [...(image instanceof Uint8Array ? [{ type: 'image', image }] : []), { type: 'text', text: question }] }],
    }),
    present: (answer) => {
      const [choice] = answer.choices as { message: { content: string } }[];
      return { content: [text(choice?.message.content ?? '')], structuredContent: answer };
    },
  },
  {
    name: 'explain_image',
    title: 'Show where the model looks',
    description: "Where an image classifier or CLIP's vision tower looks: a heat-map over the photo (last-layer CLS attention, per head, or rollout).",
    service: attentionService as TaskService,
    inputSchema: inputSchemaOf(attentionService.schema, ['format']),
    // The overlay as image content and the grid as numbers.
    toRaw: (args) => ({ ...args, format: 'both' }),
    // The HTTP JSON answer (attentionJson) carries the PNG as base64: it becomes image content.
    present: ({ png_base64: png, ...answer }) => {
      const { rows, cols } = answer.grid as { rows: number; cols: number };
      return {
        content: [...(typeof png === 'string' ? [{ type: 'image' as const, data: png, mimeType: 'image/png' }] : []), text(`where ${String(answer.model)} looks: a ${rows}×${cols} grid over the photo`)],
        structuredContent: answer,
      };
    },
  },
];
