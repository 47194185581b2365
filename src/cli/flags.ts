// Checks of the commands' flags that name the flag in their message: numbers, and the files and
// folders a command reads or writes, checked before the adapter starts or anything is written.
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { MODEL_FILE } from '../train/state.js';
import { describeError, fsReason, UserError } from './errors.js';
import { parseConvChoice, type ConvChoice } from '../gpu/autotune.js';
import type { Engine } from '../gpu/engine.js';

/** An integer flag in [min, max], or undefined when not given. */
export function intFlag(name: string, value: string | undefined, min = 0, max = Number.MAX_SAFE_INTEGER): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UserError(`--${name} must be an integer ${range}, got "${value}"`);
  }
  return n;
}

/** A finite number flag, above `above` when given, or undefined when not given. */
export function numberFlag(name: string, value: string | undefined, bounds: { above?: number; min?: number } = {}): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  const { above, min } = bounds;
  if (value.trim() === '' || !Number.isFinite(n) || (above !== undefined && !(n > above)) || (min !== undefined && !(n >= min))) {
    const bound = above !== undefined ? ` > ${above}` : min !== undefined ? ` >= ${min}` : '';
    throw new UserError(`--${name} must be a number${bound}, got "${value}"`);
  }
  return n;
}

/** A file the command reads: it must exist and be a file. */
export function inputFile(flag: string, path: string, what = 'a file'): string {
  if (!existsSync(path)) throw new UserError(`${flag} ${path}: no such file`);
  if (statSync(path).isDirectory()) throw new UserError(`${flag} ${path} is a folder; give ${what}`);
  return path;
}

/** A checkpoint given as its file or as the run folder that holds it. */
export function checkpointFile(flag: string, path: string): string {
  if (existsSync(path) && statSync(path).isDirectory()) {
    const inside = join(path, MODEL_FILE);
    if (!existsSync(inside)) throw new UserError(`${flag} ${path} is a folder without a ${MODEL_FILE}`);
    return inside;
  }
  if (!existsSync(path)) throw new UserError(`${flag} ${path}: no such file (a ${MODEL_FILE} written by npm run train, or its folder)`);
  return path;
}

/** A file the command writes: its folder must exist and it must not be a folder itself. */
export function outputFile(flag: string, path: string): string {
  const folder = dirname(path);
  if (!existsSync(folder)) throw new UserError(`${flag} ${path}: the folder ${folder} does not exist`);
  if (existsSync(path) && statSync(path).isDirectory()) throw new UserError(`${flag} ${path} is a folder; give a file name`);
  return path;
}

/** A folder the command writes into, created (with its parents) if missing. */
export function outputFolder(flag: string, path: string): string {
  if (existsSync(path) && !statSync(path).isDirectory()) throw new UserError(`${flag} ${path} is a file; give a folder`);
  try {
    mkdirSync(path, { recursive: true });
  } catch (e) {
    throw new UserError(`${flag} ${path}: cannot create the folder: ${fsReason(e) ?? describeError(e)}`);
  }
  return path;
}

/** --conv-variant's value. */
export function convChoiceFlag(value: string): ConvChoice {
  try {
    return parseConvChoice('--conv-variant', value);
  } catch (e) {
    throw new UserError((e as Error).message);
  }
}

/** The engine's convolution variant and where it came from, for a command's first lines. */
export function convVariantNote(engine: Engine): string {
  const byDefault = engine.convVariant === (engine.software ? 'register' : 'auto');
  const why = byDefault ? ` (the default on a ${engine.software ? 'software' : 'hardware'} adapter; --conv-variant or DCIGN_CONV to change)` : '';
  return `${engine.convVariant}${why}`;
}
