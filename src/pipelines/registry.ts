/**
 * The one task table: task → model family → loader → the handler its service calls. Adding a
 * capability adds a row here (and its service in src/server/services/, which both transports serve); the
 * server has no per-task branches.
 */
import { CAPTION_ENCODER } from '../models/captioner/load-captioner.js';
import { CLIP_VISION_SESSION } from '../models/clip/load-clip.js';
import { loadCaptioning } from './captioning-loader.js';
import type { Captioner } from './captioning.js';
import { VIT_SESSION } from '../models/vit/load-vit.js';
import { loadImageClassification } from './image-classification-loader.js';
import type { ImageClassifier } from './image-classification.js';
import type { ClipPipeline } from './zero-shot.js';
import { loadZeroShot } from './zero-shot-loader.js';
import type { LoadDeps, LoadedModel, ModelSpec } from './served-model.js';
import type { Task } from './tasks.js';

export type { ComponentHandle, LoadDeps, LoadedModel, ModelSpec, ServedComponent } from './served-model.js';
export type { Task };

/** The handler (pipeline object) each task's models carry. */
export interface TaskHandlers {
  'image-classification': ImageClassifier;
  'zero-shot-image-classification': ClipPipeline;
  'image-to-text': Captioner;
}

export interface TaskDefinition<T extends Task> {
  family: string;
  /** The session images go through: what layout tuning times (src/server/layout-tunings.ts). */
  imageSession: string;
  load(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel<TaskHandlers[T]>>;
}

export const TASKS: { [T in Task]: TaskDefinition<T> } = {
  'image-classification': { family: 'vit', imageSession: VIT_SESSION, load: loadImageClassification },
  'zero-shot-image-classification': { family: 'clip', imageSession: CLIP_VISION_SESSION, load: loadZeroShot },
  'image-to-text': { family: 'vision-encoder-decoder', imageSession: CAPTION_ENCODER, load: loadCaptioning },
};

/** Loads a served model with its task's loader. */
export function loadModel(spec: ModelSpec, deps: LoadDeps): Promise<LoadedModel> {
  return TASKS[spec.task].load(spec, deps);
}
