// `npm run train` as a child process, for tests of what it prints, returns and leaves on disk.
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const root = resolve(import.meta.dirname, '../..');
const TRAIN = ['scripts/run.mjs', 'src/cli/train.ts', '--'];

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function train(args: string[], env: Record<string, string> = {}): Ran {
  const r = spawnSync(process.execPath, [...TRAIN, ...args], { cwd: root, encoding: 'utf8', timeout: 240_000, env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function trainInBackground(args: string[]): { child: ChildProcessWithoutNullStreams; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [...TRAIN, ...args], { cwd: root, stdio: 'pipe' });
  let text = '';
  child.stdout.on('data', (d) => (text += d));
  child.stderr.on('data', (d) => (text += d));
  const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
  return { child, output: () => text, exited };
}

/** Waits until `ready()` holds, checking every 50 ms, or fails after `ms`. */
export async function until(ready: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!ready()) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every file under `dir` (relative path -> sha256), to tell that nothing changed. */
export function snapshot(dir: string, base = dir, into: Record<string, string> = {}): Record<string, string> {
  if (!existsSync(dir)) return into;
  for (const f of readdirSync(dir).sort()) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) snapshot(p, base, into);
    else into[p.slice(base.length + 1)] = createHash('sha256').update(readFileSync(p)).digest('hex');
  }
  return into;
}

/** The lines of a CLI's stderr that are neither Dawn's start-up warnings nor the progress bar. */
export function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.trim() && !l.startsWith('Warning: ') && !/^step \d+\/\d+[ ,]/.test(l));
}
