/**
 * The naive captioning anchor: express + multer + a transformers.js `image-to-text` pipeline
 * called per request (each request decodes alone), plus a trivial /healthz.
 * Usage: tsx bench/naive-caption-server.ts <model-dir> <port>
 */
import path from 'node:path';
import express from 'express';
import multer from 'multer';
import { env, pipeline, RawImage } from '@huggingface/transformers';

const [modelDir, port] = process.argv.slice(2);
if (!modelDir || !port) throw new Error('usage: naive-caption-server.ts <model-dir> <port>');

env.allowRemoteModels = false;
env.localModelPath = path.dirname(path.resolve(modelDir));
const captioner = await pipeline('image-to-text', path.basename(modelDir), { dtype: 'fp32', device: 'cpu' });

const app = express();
const upload = multer({ storage: multer.memoryStorage() });
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/v1/caption', upload.single('image'), async (req, res) => {
  try {
    const image = await RawImage.fromBlob(new Blob([new Uint8Array(req.file!.buffer)]));
    const tokens = Number(req.body.max_new_tokens ?? 20);
    const [answer] = (await captioner(image, { max_new_tokens: tokens, min_new_tokens: tokens } as never)) as { generated_text: string }[];
    res.json({ caption: answer!.generated_text });
  } catch (error) {
    res.status(500).json({ error: String(error) });
  }
});
app.listen(Number(port), '127.0.0.1', () => console.log(`naive captioning server listening on ${port}`));
