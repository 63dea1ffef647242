/**
 * The one task table: task → model family → loader → the handler its service calls. Adding a
 * capability adds a row here (and its service in src/server/services/, which both transports serve); the
 * server has no per-task branches.
 */
import { BLIP_VISION } from '../models/captioner/load-blip.js';
import { CAPTION_ENCODER } from '../models/captioner/load-captioner.js';
import { CLIP_VISION_SESSION } from '../models/clip/load-clip.js';
import { CHAT_VISION } from '../models/chat/load-chat-model.js';
import { loadCaptioning } from './captioning-loader.js';
import type { Captioner } from './captioning.js';
import type { ChatPipeline } from './chat.js';
import { loadChat } from './chat-loader.js';
import { VIT_SESSION } from '../models/vit/load-vit.js';
import { loadImageClassification } from './image-classification-loader.js';
import type { ImageClassifier } from './image-classification.js';
import type { ClipPipeline } from './zero-shot.js';
import { loadZeroShot } from './zero-shot-loader.js';
import type { LoadDeps, LoadedModel, ModelSpec } from './served-model.js';
import type { Task } from './tasks.js';
import { hasOnnxFile } from '../models/hf-folder.js';

export type { ComponentHandle, LoadDeps, LoadedModel, ModelSpec, ServedComponent } from './served-model.js';
export type { Task };

/** The handler (pipeline object) each task's models carry. */
export interface TaskHandlers {
  'image-classification': ImageClassifier;
  'zero-shot-image-classification': ClipPipeline;
  'image-to-text': Captioner;
  'image-text-to-text': ChatPipeline;
}

export interface TaskDefinition<T extends Task> {
  family: string;
  /**
   * The session images go through, by the names its families give it (the first whose graph the
   * folder has): what layout tuning times (src/server/layout-tunings.ts).
   */
  imageSessions: readonly string[];
  load(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<TaskHandlers[T]>>;
}

export const TASKS: { [T in Task]: TaskDefinition<T> } = {
  'image-classification': { family: 'vit', imageSessions: [VIT_SESSION], load: loadImageClassification },
  'zero-shot-image-classification': { family: 'clip', imageSessions: [CLIP_VISION_SESSION], load: loadZeroShot },
  'image-to-text': { family: 'vision-encoder-decoder', imageSessions: [CAPTION_ENCODER, BLIP_VISION], load: loadCaptioning },
  'image-text-to-text': { family: 'idefics3', imageSessions: [CHAT_VISION], load: loadChat },
};

/** The name of the session images go through in the model folder `dir` (its task's first candidate with an fp32 graph there). */
export function imageSessionIn(task: Task, dir: string): string {
  const candidates = TASKS[task].imageSessions;
  return candidates.find((name) => hasOnnxFile(dir, name, 'fp32')) ?? candidates[0]!;
}

/** Loads a served model with its task's loader. */
export function loadModel(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel> {
  return TASKS[spec.task].load(spec, deps);
}
