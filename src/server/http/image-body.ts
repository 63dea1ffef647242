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

export type ImageBodyKind = 'multipart' | 'json' | 'raw';

function bodyKind(req: Request): ImageBodyKind | undefined {
  if (req.is('multipart/form-data')) return 'multipart';
  if (req.is('application/json')) return 'json';
  if (req.is(['image/*', 'application/octet-stream'])) return 'raw';
  return undefined;
}

/** Middleware that parses the body by its type and leaves `res.locals.rawRequest`. */
export function imageBody(limits: Limits): RequestHandler[] {
  const multipart = multer({
    storage: multer.memoryStorage(),
    limits: { fileSize: limits.imageBytes, files: 1, fields: 20, fieldSize: 64 * 1024, parts: 25 },
  }).single('image');
  const json = express.json({ limit: limits.jsonBodyBytes, type: () => true });
  const raw = express.raw({ limit: limits.imageBytes, type: () => true });

  const parse: RequestHandler = (req, res, next) => {
    const kind = bodyKind(req);
    if (!kind) {
      const given = req.get('content-type') ?? 'none';
      return next(
        new ApiError('unsupported_media_type', `Content-Type ${given} is not accepted: use multipart/form-data, application/json or image/*`),
      );
    }
    res.locals.bodyKind = kind;
    ({ multipart, json, raw })[kind](req, res, next);
  };

  const shape: RequestHandler = (req, res, next) => {
    const kind = res.locals.bodyKind;
    if (kind === 'multipart') {
      const fields = req.body && typeof req.body === 'object' ? { ...req.body } : {};
      res.locals.rawRequest = { ...fields, ...(req.file ? { image: req.file.buffer } : {}) };
    } else if (kind === 'json') {
      if (!req.body || typeof req.body !== 'object' || Array.isArray(req.body)) {
        return next(new ApiError('invalid_request', 'the JSON body must be an object'));
      }
      const body = { ...(req.body as Record<string, unknown>) };
      if (typeof body.image === 'string') body.image = imageBytesFromString(body.image, limits.imageBytes);
      res.locals.rawRequest = body;
    } else {
      const bytes = Buffer.isBuffer(req.body) ? req.body : new Uint8Array();
      res.locals.rawRequest = { ...req.query, image: bytes };
    }
    next();
  };
  return [parse, shape];
}
