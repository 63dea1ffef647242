/**
 * `GET /openapi.json` (the document, built once) and `GET /docs`: Swagger UI served from the
 * swagger-ui-dist package (no CDN), pointed at the document.
 */
import express, { type Router } from 'express';
import swaggerUi from 'swagger-ui-dist';
import { openApiDocument } from '../openapi/openapi-document.js';

const DOCS_PAGE = `<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>multimodal-inference-server API</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css"></head>
<body><div id="api"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script src="/docs/init.js"></script>
</body></html>
`;
/** A script of its own rather than inline, so a strict Content-Security-Policy in front still allows it. */
const DOCS_INIT = "window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#api' });\n";

export function openApiRoutes(): Router {
  const router = express.Router();
  const document = openApiDocument();
  router.get('/openapi.json', (_req, res) => void res.json(document));
  router.get('/docs', (_req, res) => void res.type('html').send(DOCS_PAGE));
  router.get('/docs/init.js', (_req, res) => void res.type('js').send(DOCS_INIT));
  router.use('/docs/assets', express.static(swaggerUi.getAbsoluteFSPath(), { index: false }));
  return router;
}
