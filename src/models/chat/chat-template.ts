/**
 * A chat model's prompt template: `chat_template` from tokenizer_config.json, else
 * `chat_template.jinja`, else `chat_template.json` (where transformers keeps it now), rendered
 * with @huggingface/jinja the way transformers(.js) `apply_chat_template` renders it: the
 * conversation as `messages`, `add_generation_prompt`, and the tokenizer's special tokens
 * (bos_token, eos_token, …) as variables. transformers.js itself is not used for this on the
 * main thread: importing it loads onnxruntime-node there (docs/architecture.md, "Visual chat").
 *
 *   const template = await loadChatTemplate(dir, tokenizerConfig);
 *   template.render([{ role: 'user', content: [{ type: 'image' }, { type: 'text', text: 'What is this?' }] }]);
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { Template } from '@huggingface/jinja';
import { ApiError } from '../../errors.js';
import { ModelFolderError, readJsonFile } from '../hf-folder.js';

/** A message part as chat templates read it (Hugging Face's multimodal message format). */
export type TemplatePart = { type: 'text'; text: string } | { type: 'image' };

export interface TemplateMessage {
  role: string;
  content: TemplatePart[];
}

export interface ChatTemplate {
  /** The conversation as prompt text, ending with the assistant's turn opened. */
  render(messages: readonly TemplateMessage[]): string;
  /** Where the template came from (for /v1/models). */
  source: string;
}

/** What transformers passes as variables besides the messages. */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

type TokenizerConfig = Record<string, unknown> & { chat_template?: unknown };

export async function loadChatTemplate(dir: string, tokenizerConfig: TokenizerConfig): Promise<ChatTemplate> {
  const { text, source } = await findTemplate(dir, tokenizerConfig);
  let template: Template;
  try {
    template = new Template(text);
  } catch (error) {
    throw new ModelFolderError(`${dir}: the chat template (${source}) does not parse: ${(error as Error).message}`);
  }
  const specialTokens = Object.fromEntries(SPECIAL_TOKEN_KEYS.flatMap((key) => {
    const token = tokenContent(tokenizerConfig[key]);
    return token === undefined ? [] : [[key, token]];
  }));
  return {
    source,
    render(messages) {
      try {
        return template.render({ messages, add_generation_prompt: true, ...specialTokens });
      } catch (error) {
        // Templates raise on conversations they do not accept (roles out of order, …).
        throw new ApiError('invalid_request', `the model's chat template refused the conversation: ${(error as Error).message}`);
      }
    },
  };
}

async function findTemplate(dir: string, tokenizerConfig: TokenizerConfig): Promise<{ text: string; source: string }> {
  const fromConfig = templateText(tokenizerConfig.chat_template);
  if (fromConfig) return { text: fromConfig, source: 'tokenizer_config.json' };
  if (existsSync(path.join(dir, 'chat_template.jinja'))) return { text: await readFile(path.join(dir, 'chat_template.jinja'), 'utf8'), source: 'chat_template.jinja' };
  if (existsSync(path.join(dir, 'chat_template.json'))) {
    const json = await readJsonFile<{ chat_template?: unknown }>(dir, 'chat_template.json');
    const text = templateText(json.chat_template);
    if (text) return { text, source: 'chat_template.json' };
  }
  throw new ModelFolderError(`${dir}: no chat template (tokenizer_config.json chat_template, chat_template.jinja or chat_template.json)`);
}

/** A template string, or the `default` of a list of named templates. */
function templateText(value: unknown): string | undefined {
  if (typeof value === 'string' && value.length > 0) return value;
  if (Array.isArray(value)) {
    const named = value.find((entry: { name?: unknown }) => entry?.name === 'default') as { template?: unknown } | undefined;
    return typeof named?.template === 'string' ? named.template : undefined;
  }
  return undefined;
}

/** A special token's text: a string, or an AddedToken object's `content`. */
function tokenContent(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return undefined;
}
