// Every command answers a mistake with one line `error: …` naming the flag or path, exit status 1
// and no stack trace. Spawned as a user runs them; most fail before the adapter starts.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '..');
const tmp = mkdtempSync(join(tmpdir(), 'dcign-errors-'));
const file = join(tmp, 'a-file');
const emptyFolder = join(tmp, 'empty');
let checkpoint = '';

function run(entry: string, args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, ['scripts/run.mjs', entry, '--', ...args], { cwd: root, encoding: 'utf8', timeout: 110_000, env: { ...process.env, ...env } });
}

/** The command failed as a user error whose one line contains `expected`. */
function expectUserError(r: ReturnType<typeof run>, expected: string): void {
  const lines = r.stderr.split('\n').filter((l) => l && !l.includes('artificially reduced'));
  expect(lines[0], r.stderr).toBe(`error: ${lines[0]!.slice(7)}`);
  expect(lines[0], r.stderr).toContain(expected);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.status, r.stderr).toBe(1);
}

beforeAll(() => {
  writeFileSync(file, 'not an image');
  mkdirSync(emptyFolder);
  const out = join(tmp, 'run');
  const r = run('src/cli/train.ts', ['--preset', 'tiny', '--steps', '1', '--out', out]);
  expect(r.status, r.stderr).toBe(0);
  checkpoint = join(out, 'model.safetensors');
}, 120_000);

describe.each([
  ['faces', 'src/cli/faces.ts', ['--count', '0', '--out', tmp], '--count must be an integer in [1, 1000], got "0"'],
  ['faces', 'src/cli/faces.ts', ['--out', join(file, 'x')], `--out ${join(file, 'x')}: cannot create the folder: a part of the path is not a folder`],
  ['faces', 'src/cli/faces.ts', ['--nosuch'], "Unknown option '--nosuch'"],
  ['encode', 'src/cli/encode.ts', ['--checkpoint', emptyFolder, '--images', file], `--checkpoint ${emptyFolder} is a folder without a model.safetensors`],
  ['encode', 'src/cli/encode.ts', ['--checkpoint', tmp, '--images', join(tmp, 'missing.png')], `--images ${join(tmp, 'missing.png')}: no such file`],
  ['encode', 'src/cli/encode.ts', ['--checkpoint', tmp, '--images', emptyFolder], `--images ${emptyFolder} is a folder without .png/.jpg/.jpeg files`],
  ['render', 'src/cli/render.ts', ['--image', file, '--image', file, '--out', 'x.png'], '--image takes one image, got 2'],
  ['render', 'src/cli/render.ts', ['--image', file, '--out', join(tmp, 'x.bmp')], `--out ${join(tmp, 'x.bmp')}: give a .png or .jpg file name`],
  ['render', 'src/cli/render.ts', ['--image', file, '--out', join(tmp, 'no', 'x.png')], `--out ${join(tmp, 'no', 'x.png')}: the folder ${join(tmp, 'no')} does not exist`],
  ['eval', 'src/cli/eval.ts', ['--checkpoint', join(tmp, 'missing')], `--checkpoint ${join(tmp, 'missing')}: no such file`],
  ['eval', 'src/cli/eval.ts', ['--checkpoint', join(tmp, 'run'), '--faces', '0'], '--faces must be an integer >= 1, got "0"'],
  ['train', 'src/cli/train.ts', ['--lr', '0'], '--lr must be a number > 0, got "0"'],
  ['train', 'src/cli/train.ts', ['--lr=-1'], '--lr must be a number > 0, got "-1"'],
  ['train', 'src/cli/train.ts', ['--invariance=-5'], '--invariance must be a number >= 0, got "-5"'],
  ['train', 'src/cli/train.ts', ['--invariance-mode', 'huge'], '--invariance-mode must be absolute or relative, got "huge"'],
  ['train', 'src/cli/train.ts', ['--random-encoder', 'identity'], '--random-encoder must be all or scene, got "identity"'],
  ['train', 'src/cli/train.ts', ['--conv-variant', 'fast'], '--conv-variant must be register, tiled or auto, got "fast"'],
  ['bench', 'bench/index.ts', ['nosuch'], 'no bench named "nosuch"'],
  ['bench', 'bench/index.ts', ['kernels', '--conv-variant', 'fast'], '--conv-variant must be register, tiled or auto, got "fast"'],
  ['bench', 'bench/index.ts', ['step', '--jax-steps', '0'], '--jax-steps must be an integer >= 1, got "0"'],
  ['bench', 'bench/index.ts', ['web', '--preset', 'huge'], '--preset must be one of paper, small, tiny, got huge'],
  ['overfit', 'scripts/overfit.ts', ['--nosuch'], "Unknown option '--nosuch'"],
] as [string, string, string[], string][])('%s %j', (_name, entry, args, expected) => {
  it('says what is wrong in one line', () => expectUserError(run(entry, args), expected));
});

describe('errors found with the adapter', () => {
  it('render refuses a latent far outside the prior', () => {
    expectUserError(run('src/cli/render.ts', ['--checkpoint', checkpoint, '--image', file, '--set', 'z1=1e30', '--out', join(tmp, 'x.png')]), '--set z1=1e30: expected zK=V');
  });

  it('encode names the image it cannot decode', () => {
    expectUserError(run('src/cli/encode.ts', ['--checkpoint', checkpoint, '--images', file]), `--images ${file}: not a PNG or JPEG file`);
  });

  it('train says the largest batch before it makes the run folder', () => {
    const out = join(tmp, 'big');
    expectUserError(run('src/cli/train.ts', ['--preset', 'small', '--batch', '100000', '--out', out]), '--batch 100000: this adapter takes at most');
    expect(existsSync(out)).toBe(false);
    // A tiny batch that fits every buffer is still more faces than the renderer draws in one call.
    expectUserError(run('src/cli/train.ts', ['--preset', 'tiny', '--batch', '100000', '--out', out]), '--batch 100000: this adapter takes at most 16384 images of preset tiny');
    expect(existsSync(out)).toBe(false);
  });

  it('eval refuses a baseline of another image size before it writes anything', () => {
    const small = join(tmp, 'small');
    expect(run('src/cli/train.ts', ['--preset', 'small', '--steps', '1', '--sample-every', '0', '--out', small]).status).toBe(0);
    const out = join(tmp, 'eval');
    expectUserError(run('src/cli/eval.ts', ['--checkpoint', checkpoint, '--baseline', small, '--out', out]), 'compare checkpoints of one image size');
    expect(existsSync(out)).toBe(false);
  }, 240_000);

  it('a missing adapter is a one-line error too', () => {
    expectUserError(run('src/cli/faces.ts', ['--count', '1', '--out', tmp], { DCIGN_DAWN: 'backend=d3d12' }), 'No WebGPU adapter is available');
  });
});
