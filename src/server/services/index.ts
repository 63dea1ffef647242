/** Every task's service, as the transports serve them: one row per task. */
import { alignmentFitService } from './alignment-service.js';
import { attentionService } from './attention-service.js';
import { captionService } from './caption-service.js';
import { chatService } from './chat-service.js';
import { classifyService } from './classify-service.js';
import { embeddingsService } from './embeddings-service.js';
import { localizeService } from './localize-service.js';
import type { TaskService } from './task-service.js';
import { zeroShotService } from './zero-shot-service.js';

export const TASK_SERVICES: readonly TaskService[] = [
  classifyService as TaskService,
  zeroShotService as TaskService,
  embeddingsService as TaskService,
  alignmentFitService as TaskService,
  attentionService as TaskService,
  localizeService as TaskService,
  captionService as TaskService,
  chatService as TaskService,
];

export type { CallContext, ServiceDeps, TaskService } from './task-service.js';
export { newCallContext, runService } from './task-service.js';
