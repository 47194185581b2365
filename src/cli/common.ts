// Shared by the Node CLIs: open a checkpoint and load images for its model.
import { readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { initEngine, type Engine } from '../node.js';
import type { Dcign } from '../model/dcign.js';
import { CheckpointError } from '../model/safetensors.js';
import { readModelFile } from '../train/state.js';
import { IMAGE_EXTENSIONS, loadImage } from '../data/images-node.js';
import { Tensor } from '../tensor.js';
import { describeError, UserError } from './errors.js';
import { checkpointFile, inputFile } from './flags.js';
import { checkpointOrShipped } from './shipped.js';

/**
 * The checkpoint file behind --checkpoint (a file or its run folder), checked before the adapter
 * starts; without the flag, the shipped one.
 */
export function checkpointFlag(path: string | undefined): string {
  return checkpointFile('--checkpoint', checkpointOrShipped(path));
}

export async function openCheckpoint(file: string): Promise<{ engine: Engine; model: Dcign; metadata: Record<string, string> }> {
  const engine = await initEngine();
  try {
    const { model, metadata } = readModelFile(file, engine);
    return { engine, model, metadata };
  } catch (e) {
    engine.destroy();
    throw e instanceof CheckpointError ? new UserError(`--checkpoint ${e.message}`) : e;
  }
}

/** The image files a flag names: files as given, and the PNG/JPEG files of a folder, sorted. */
export function imageFiles(flag: string, paths: string[]): string[] {
  return paths.flatMap((p) => {
    if (!statSafe(p)?.isDirectory()) return [inputFile(flag, p)];
    const inside = readdirSync(p).filter((f) => IMAGE_EXTENSIONS.includes(extname(f).toLowerCase())).sort();
    if (!inside.length) throw new UserError(`${flag} ${p} is a folder without ${IMAGE_EXTENSIONS.join('/')} files`);
    return inside.map((f) => join(p, f));
  });
}

const statSafe = (p: string) => statSync(p, { throwIfNoEntry: false });

/** Images as model input [N, 1, S, S]: grayscale, centre-cropped, resized to the model's size. */
export function loadImages(paths: string[], size: number, engine: Engine, flag = '--images'): Tensor {
  const data = new Float32Array(paths.length * size * size);
  paths.forEach((p, i) => {
    try {
      data.set(loadImage(p, size), i * size * size);
    } catch (e) {
      // Decoding errors start with the path; a file-system error is put in words that do.
      const message = (e as NodeJS.ErrnoException).code ? describeError(e) : (e as Error).message;
      throw new UserError(`${flag} ${message}`);
    }
  });
  return Tensor.fromData(data, [paths.length, 1, size, size], 'f32', engine);
}
