// Shared by the Node CLIs: open a checkpoint and load images for its model.
import { initEngine, type Engine } from '../node.js';
import type { Dcign } from '../model/dcign.js';
import { readModelFile } from '../train/state.js';
import { loadImage } from '../data/images-node.js';
import { Tensor } from '../tensor.js';

export async function openCheckpoint(path: string | undefined): Promise<{ engine: Engine; model: Dcign; metadata: Record<string, string> }> {
  if (!path) throw new Error('--checkpoint FILE is required (a model.safetensors written by npm run train)');
  const engine = await initEngine();
  const { model, metadata } = readModelFile(path, engine);
  return { engine, model, metadata };
}

/** Images as model input [N, 1, S, S]: grayscale, centre-cropped, resized to the model's size. */
export function loadImages(paths: string[], size: number, engine: Engine): Tensor {
  const data = new Float32Array(paths.length * size * size);
  paths.forEach((p, i) => data.set(loadImage(p, size), i * size * size));
  return Tensor.fromData(data, [paths.length, 1, size, size], 'f32', engine);
}

export function fail(e: Error): never {
  console.error(`error: ${e.message}`);
  process.exit(1);
}
