// The checkpoint the repository ships (the default `npm run train` run of the `small` preset),
// used by encode, render, eval and demo when no --checkpoint is given.
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from './errors.js';

export const SHIPPED_CHECKPOINT = 'models/small.safetensors';

/** The repository root: the nearest folder above this file (or its bundle in .cache/) holding package.json and src/. */
function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) || !existsSync(join(dir, 'src'))) {
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
  return dir;
}

/** The shipped checkpoint's path, or null when this checkout lacks it. */
export function shippedCheckpoint(): string | null {
  const file = resolve(repoRoot(), SHIPPED_CHECKPOINT);
  return existsSync(file) ? file : null;
}

/** The given path, or the shipped checkpoint (said on stderr, so that piped output stays clean). */
export function checkpointOrShipped(given: string | undefined): string {
  if (given !== undefined) return given;
  const file = shippedCheckpoint();
  if (!file) throw new UserError(`--checkpoint FILE is required: the shipped ${SHIPPED_CHECKPOINT} is missing from this checkout`);
  console.error(`checkpoint: ${relative(process.cwd(), file) || file} (shipped; --checkpoint FILE picks another)`);
  return file;
}
