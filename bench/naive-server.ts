/**
 * The naive anchor: what a Node user writes today. express + multer + a transformers.js
 * `image-classification` pipeline called per request, plus a trivial /healthz.
 * Usage: tsx bench/naive-server.ts <model-dir> <port>
 */
import path from 'node:path';
import express from 'express';
import multer from 'multer';
import { env, pipeline, RawImage } from '@huggingface/transformers';

const [modelDir, port] = process.argv.slice(2);
if (!modelDir || !port) throw new Error('usage: naive-server.ts <model-dir> <port>');

env.allowRemoteModels = false;
env.localModelPath = path.dirname(path.resolve(modelDir));
const classifier = await pipeline('image-classification', path.basename(modelDir), { dtype: 'fp32', device: 'cpu' });

const app = express();
const upload = multer({ storage: multer.memoryStorage() });
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/v1/classify', upload.single('image'), async (req, res) => {
  try {
    const image = await RawImage.fromBlob(new Blob([new Uint8Array(req.file!.buffer)]));
    const predictions = await classifier(image, { top_k: 5 });
    res.json({ predictions });
  } catch (error) {
    res.status(500).json({ error: String(error) });
  }
});
app.listen(Number(port), '127.0.0.1', () => console.log(`naive server listening on ${port}`));
