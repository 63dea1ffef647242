/**
 * Body parsing for routes that take an image: multipart (field `image`), JSON (base64 or data
 * URL in `image`), or the raw image bytes as the body (`Content-Type: image/*`, params in the
 * query string). Produces one raw object for the route's zod schema.
 */
import express, { type Request, type RequestHandler } from 'express';
import multer from 'multer';
import { ApiError } from '../../errors.js';
import type { Limits } from '../config.js';
import { imageBytesFromString } from '../schemas.js';
import { isImageUrl } from '../image-url/index.js';
import { checkJsonShape, JSON_SHAPE_LIMITS, type JsonShapeLimits } from './json-guard.js';

export type ImageBodyKind = 'multipart' | 'json' | 'raw';

/** No request body announced: neither a length nor chunked transfer (or an explicit length of 0). */
function hasNoBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || Number(length) === 0);
}

/** The Content-Encoding, unless identity; the body parsers inflate gzip, deflate and br for JSON and raw bodies. */
function contentEncoding(req: Request): string | undefined {
  const encoding = req.headers['content-encoding']?.trim().toLowerCase();
  return encoding && encoding !== 'identity' ? encoding : undefined;
}

/** More top-level JSON fields than any request schema has: refused before they are copied or validated. */
const MAX_JSON_FIELDS = 64;

function tooManyFields(body: object): boolean {
  let count = 0;
  for (const key in body) if (Object.hasOwn(body, key) && ++count > MAX_JSON_FIELDS) return true;
  return false;
}

const ACCEPTED: Record<ImageBodyKind, string> = { multipart: 'multipart/form-data', json: 'application/json', raw: 'image/*' };

function bodyKind(req: Request): ImageBodyKind | undefined {
  if (req.is('multipart/form-data')) return 'multipart';
  if (req.is('application/json')) return 'json';
  if (req.is(['image/*', 'application/octet-stream'])) return 'raw';
  return undefined;
}

/** What a route's body may hold. */
export interface BodyOptions {
  /** The body types accepted (default all three). */
  kinds?: readonly ImageBodyKind[];
  jsonShape?: JsonShapeLimits;
  /** Image files (field `image`) and text fields a multipart form may carry (default 1 and 20). */
  multipart?: { files: number; fields: number };
}

/** Middleware that parses the body by its type and leaves `res.locals.rawRequest`. */
export function imageBody(limits: Limits, options: BodyOptions = {}): RequestHandler[] {
  const kinds = options.kinds ?? ['multipart', 'json', 'raw'];
  const jsonShape = options.jsonShape ?? JSON_SHAPE_LIMITS;
  const { files, fields } = options.multipart ?? { files: 1, fields: 20 };
  const form = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: limits.imageBytes, files, fields, fieldSize: 64 * 1024, parts: files + fields + 5 },
  });
  const multipart = files > 1 ? form.array('image', files) : form.single('image');
  const json = express.json({
    limit: limits.jsonBodyBytes,
    type: () => true,
    verify: (_req, _res, bytes, encoding) => {
      // The guard scans UTF-8: in UTF-16 a quote hides inside other characters (U+2200 is 00 22).
      if (!/^utf-?8$/i.test(encoding)) throw new ApiError('unsupported_media_type', `JSON bodies are UTF-8 (RFC 8259), not ${encoding}`);
      checkJsonShape(bytes, jsonShape);
    },
  });
  const raw = express.raw({ limit: limits.imageBytes, type: () => true });

  const parse: RequestHandler = (req, res, next) => {
    if (hasNoBody(req)) {
      return next(new ApiError('invalid_request', `the request has no body: send ${kinds.map((k) => ACCEPTED[k]).join(', ')}`));
    }
    const found = bodyKind(req);
    const kind = found && kinds.includes(found) ? found : undefined;
    const encoding = contentEncoding(req);
    if (kind === 'multipart' && encoding) {
      return next(new ApiError('unsupported_media_type', `Content-Encoding ${encoding} is not accepted for multipart bodies`));
    }
    if (!kind) {
      const given = req.get('content-type') ?? 'none';
      return next(
        new ApiError('unsupported_media_type', `Content-Type ${given} is not accepted: use ${kinds.map((k) => ACCEPTED[k]).join(', ')}`),
      );
    }
    // Several files in memory: the whole form is bounded like a JSON body, by its announced length.
    if (kind === 'multipart' && files > 1 && !(Number(req.headers['content-length']) <= limits.jsonBodyBytes)) {
      return next(new ApiError('payload_too_large', `a form with several images needs a Content-Length of at most ${limits.jsonBodyBytes} bytes`));
    }
    res.locals.bodyKind = kind;
    ({ multipart, json, raw })[kind](req, res, (error?: unknown) => {
      // A body that does not inflate as its Content-Encoding says (zlib's errors are not body-parser's).
      if (error && encoding && !(error instanceof ApiError) && !(error as { type?: unknown }).type) {
        return next(new ApiError('invalid_request', `the body is not valid ${encoding} data (Content-Encoding: ${encoding})`, { cause: error }));
      }
      next(error);
    });
  };

  const shape: RequestHandler = (req, res, next) => {
    const kind = res.locals.bodyKind;
    if (kind === 'multipart') {
      const body = req.body && typeof req.body === 'object' ? { ...req.body } : {};
      const uploaded = Array.isArray(req.files) ? req.files.map((f) => f.buffer) : undefined;
      res.locals.rawRequest = { ...body, ...(req.file ? { image: req.file.buffer } : {}), ...(uploaded?.length ? { images: uploaded } : {}) };
    } else if (kind === 'json') {
      if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
        return next(new ApiError('invalid_request', 'the JSON body must be an object'));
      }
      if (tooManyFields(req.body as object)) {
        return next(new ApiError('invalid_request', `the JSON body has more than ${MAX_JSON_FIELDS} fields`));
      }
      const body = { ...(req.body as Record<string, unknown>) };
      // An http(s) URL stays a string: the service call fetches it (or refuses it) for every transport.
      const decoded = (image: unknown) => (typeof image === 'string' && !isImageUrl(image) ? imageBytesFromString(image, limits.imageBytes) : image);
      if ('image' in body) body.image = decoded(body.image);
      if (Array.isArray(body.images)) body.images = body.images.map(decoded);
      res.locals.rawRequest = body;
    } else {
      const bytes = Buffer.isBuffer(req.body) ? req.body : new Uint8Array();
      res.locals.rawRequest = { ...req.query, image: bytes };
    }
    next();
  };
  return [parse, shape];
}
