/** GET and DELETE of stored zero-shot alignments (fitting is a task service: POST /v1/zero-shot/alignments). */
import { Router } from 'express';
import type { AlignmentStore } from '../alignment-store.js';
import { alignmentList, alignmentResponse } from '../wire.js';
import { requireTask } from '../access/access-control.js';

export function alignmentRoutes(store: AlignmentStore): Router {
  const router = Router();
  // Alignments are a task of their own for API keys (fitting them goes through its service).
  router.use('/v1/zero-shot/alignments', (_req, res, next) => {
    requireTask(res.locals.principal, 'alignments');
    next();
  });
  router.get('/v1/zero-shot/alignments', (_req, res) => {
    res.json({ object: 'list', data: alignmentList(store) });
  });
  router.get('/v1/zero-shot/alignments/:name', (req, res) => {
    res.json(alignmentResponse(store.get(req.params.name)));
  });
  router.delete('/v1/zero-shot/alignments/:name', async (req, res) => {
    await store.delete(req.params.name);
    res.json({ name: req.params.name, deleted: true });
  });
  return router;
}
