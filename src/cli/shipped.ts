// The checkpoint the repository ships (the default `npm run train` run of the `small` preset),
// used by encode, render, eval and demo when no --checkpoint is given.
import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { UserError } from './errors.js';
import { repoRoot } from './repo-root.js';

export const SHIPPED_CHECKPOINT = 'models/small.safetensors';

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
