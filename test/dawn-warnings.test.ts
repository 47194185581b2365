// Dawn's two known "artificially reduced" warnings are dropped where the engine creates its
// instance; everything else on stderr stays.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { expect, it } from 'vitest';
import { dropKnownWarnings } from '../src/gpu/dawn-warnings.js';

const root = resolve(import.meta.dirname, '..');
const known = (kind: string) =>
  `Warning: maxDynamic${kind}BuffersPerPipelineLayout artificially reduced from 1000000 to 16 to fit dynamic offset allocation limit.\n`;

it('drops the two known lines and keeps every other', () => {
  const other = 'Warning: eglInitialize failed with EGL_NOT_INITIALIZED\n - While trying to discover a BackendType::OpenGLES adapter.\n';
  expect(dropKnownWarnings(`a\n${known('Uniform')}${known('Storage')}${other}b`)).toBe(`a\n${other}b`);
});

it('prints no Dawn warning from a command whose stderr is a pipe', () => {
  // Through the shell, so the command's stderr is a pipe as in `npm run faces ... 2>&1 | less`.
  const out = mkdtempSync(join(tmpdir(), 'dcign-faces-'));
  const r = spawnSync('sh', ['-c', `node scripts/run.mjs src/cli/faces.ts -- --count 1 --size 16 --out '${out}' 2>&1 | cat`], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  expect(r.stdout).toContain('faces: 1 az image');
  expect(r.stdout).not.toContain('artificially reduced');
}, 60_000);
