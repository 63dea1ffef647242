/**
 * `--demo`: random-weight models made by the generator, so the whole server runs offline on a
 * fresh machine: a ViT with DeiT-Tiny dimensions (classification) and a small CLIP (zero-shot),
 * big enough that batching and latency are visible; each also as its q8 variant (`vit-demo:q8`,
 * `clip-demo:q8`: the generator writes the quantised files beside the fp32 ones), a ViT-GPT2
 * captioner (`caption-demo`), a BLIP-contract captioner that takes prompts (`blip-demo`) and a
 * SmolVLM-shaped visual chat model (`chat-demo`, OpenAI chat completions).
 * Flags and environment apply to them as to any other model.
 */
import path from 'node:path';
import { BLIP_DEMO, CLIP_DEMO, ensureBlipModel, ensureClipModel, ensureSmolVlmModel, ensureVitGpt2Model, ensureVitModel, SMOLVLM_DEMO, VIT_DEMO, VIT_GPT2_DEMO } from '../models/generator/index.js';
import { modelSettings, type ModelSettings, type ServerConfig } from './config.js';

export async function demoModels(config: ServerConfig): Promise<ModelSettings[]> {
  const cacheDir = path.join(config.cacheDir, 'generated');
  const [vit, clip, captioner, blip, chat] = await Promise.all([
    ensureVitModel(VIT_DEMO, { cacheDir }),
    ensureClipModel(CLIP_DEMO, { cacheDir }),
    ensureVitGpt2Model(VIT_GPT2_DEMO, { cacheDir }),
    ensureBlipModel(BLIP_DEMO, { cacheDir }),
    ensureSmolVlmModel(SMOLVLM_DEMO, { cacheDir }),
  ]);
  const entries = [
    { id: 'vit-demo', dir: vit },
    { id: 'clip-demo', dir: clip },
    { id: 'vit-demo', dir: vit, variant: 'q8' as const },
    { id: 'clip-demo', dir: clip, variant: 'q8' as const },
    { id: 'caption-demo', dir: captioner },
    { id: 'blip-demo', dir: blip },
    { id: 'chat-demo', dir: chat },
  ];
  return entries.map((entry) => modelSettings(entry, config.modelOverrides, config.fileDefaults));
}
