// writeFileAtomic (src/train/files.ts): a write that fails part-way leaves the old file whole
// and no temporary file beside it. Failures are injected into node:fs at the step named.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { writeFileAtomic } from '../src/train/files.js';

const fail = vi.hoisted(() => ({ at: '' as '' | 'writeSync' | 'fsyncSync' | 'renameSync', calls: 0 }));

vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  // The named call throws as a full disk or a lost device would, on its second use for
  // writeSync (some bytes are already in the temporary file by then).
  const failing = <F extends (...a: never[]) => unknown>(name: typeof fail.at, f: F) => ((...a: Parameters<F>) => {
    if (fail.at === name && ++fail.calls >= (name === 'writeSync' ? 2 : 1)) throw Object.assign(new Error(`${name}: injected failure`), { code: 'EIO' });
    return f(...a);
  }) as F;
  return {
    ...fs,
    writeSync: failing('writeSync', ((fd: number, b: Uint8Array, off: number, len: number) => fs.writeSync(fd, b, off, Math.min(len, 1024))) as typeof fs.writeSync),
    fsyncSync: failing('fsyncSync', fs.fsyncSync),
    renameSync: failing('renameSync', fs.renameSync),
  };
});

afterEach(() => {
  fail.at = '';
  fail.calls = 0;
});

const tmp = () => mkdtempSync(join(tmpdir(), 'dcign-files-'));

describe('writeFileAtomic', () => {
  it('replaces the file, creates missing folders and leaves nothing else behind', () => {
    const dir = tmp();
    try {
      const path = join(dir, 'sub', 'log.jsonl');
      writeFileAtomic(path, 'first');
      const bytes = Uint8Array.from({ length: 5000 }, (_, i) => (i * 7) % 256);
      writeFileAtomic(path, bytes);
      expect(new Uint8Array(readFileSync(path))).toEqual(bytes);
      expect(readdirSync(join(dir, 'sub'))).toEqual(['log.jsonl']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const step of ['writeSync', 'fsyncSync', 'renameSync'] as const) {
    it(`a write that fails at ${step} keeps the old file and leaves no temporary file`, () => {
      const dir = tmp();
      try {
        const path = join(dir, 'model.safetensors');
        writeFileSync(path, 'old contents');
        fail.at = step;
        expect(() => writeFileAtomic(path, new Uint8Array(5000).fill(1))).toThrow(`${step}: injected failure`);
        expect(fail.calls).toBeGreaterThan(0);
        expect(readFileSync(path, 'utf8')).toBe('old contents');
        expect(readdirSync(dir)).toEqual(['model.safetensors']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
