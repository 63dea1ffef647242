/**
 * The naive zero-shot anchor: what a Node user writes today. express + a transformers.js
 * `zero-shot-image-classification` pipeline (the combined onnx/model.onnx) called per request,
 * so every call runs the text tower on every label's prompt again, plus a trivial /healthz.
 * Takes the same JSON body as ours: `{ image: <base64>, labels: [...], top_k? }`.
 * Usage: tsx bench/naive-zero-shot-server.ts <model-dir> <port>
 */
import path from 'node:path';
import express from 'express';
import { env, pipeline, RawImage } from '@huggingface/transformers';

const [modelDir, port] = process.argv.slice(2);
if (!modelDir || !port) throw new Error('usage: naive-zero-shot-server.ts <model-dir> <port>');

env.allowRemoteModels = false;
env.localModelPath = path.dirname(path.resolve(modelDir));
const classifier = await pipeline('zero-shot-image-classification', path.basename(modelDir), { dtype: 'fp32', device: 'cpu' });

const app = express();
app.use(express.json({ limit: '50mb' }));
app.get('/healthz', (_req, res) => {
  res.json({ status: 'ok' });
});
app.post('/v1/zero-shot', async (req, res) => {
  try {
    const { image, labels, top_k } = req.body as { image: string; labels: string[]; top_k?: number };
    const started = performance.now();
    const raw = await RawImage.fromBlob(new Blob([new Uint8Array(Buffer.from(image, 'base64'))]));
    const scored = (await classifier(raw, labels, { hypothesis_template: 'a photo of a {}.' })) as { label: string; score: number }[];
    res.json({ predictions: scored.slice(0, top_k ?? labels.length), timing: { total_ms: performance.now() - started } });
  } catch (error) {
    res.status(500).json({ error: String(error) });
  }
});
app.listen(Number(port), '127.0.0.1', () => console.log(`naive zero-shot server listening on ${port}`));
