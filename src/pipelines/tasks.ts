/** The tasks the server serves, defined once; config, catalog and transports derive from it. */
export const TASK_NAMES = ['image-classification', 'zero-shot-image-classification', 'image-to-text', 'image-text-to-text'] as const;

export type Task = (typeof TASK_NAMES)[number];
