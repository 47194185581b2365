// `npm run train` as a user runs it: a child process interrupted the way a terminal's Ctrl-C
// interrupts `npm run train` (the terminal signals the process group and npm forwards its copy,
// so the trainer sees SIGINT twice within milliseconds). It must still save and exit cleanly.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeSafetensors } from '../src/model/safetensors.js';
import { DEFAULT_RECIPE } from '../src/train/defaults.js';

const root = resolve(import.meta.dirname, '..');

describe('npm run train', () => {
  it('saves a checkpoint and a final grid when SIGINT arrives twice at once', async () => {
    const out = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
    const child = spawn(
      process.execPath,
      ['scripts/run.mjs', 'src/cli/train.ts', '--', '--preset', 'tiny', '--steps', '1000000', '--out', out, '--log-every', '5', '--sample-every', '0'],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let text = '';
    child.stdout.on('data', (d) => (text += d));
    child.stderr.on('data', (d) => (text += d));
    const exited = new Promise<number | null>((done) => child.on('exit', (code) => done(code)));
    const log = join(out, 'log.jsonl');
    const t0 = Date.now();
    while (!(existsSync(log) && readFileSync(log, 'utf8').split('\n').length > 3)) {
      if (Date.now() - t0 > 60_000) throw new Error(`no training progress in 60 s:\n${text}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGINT');
    // The forwarded copy lands after the trainer has seen the first (signals sent together merge).
    while (!text.includes('interrupt:')) await new Promise((r) => setTimeout(r, 5));
    child.kill('SIGINT');
    const code = await exited;
    expect(text).not.toContain('second interrupt');
    expect(code, text).toBe(130); // the shell's code for an interrupted command, after the save
    const stopped = /stopped at step (\d+)/.exec(text);
    expect(stopped, text).not.toBeNull();
    const step = Number(stopped![1]);
    expect(decodeSafetensors(readFileSync(join(out, 'model.safetensors'))).metadata.step).toBe(String(step));
    expect(readdirSync(join(out, 'samples'))).toEqual([`step-${String(step).padStart(7, '0')}.png`]);
  }, 120_000);

  it('refuses a random share outside [0, 1] or with the random procedure, naming the option', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--preset', 'tiny', '--steps', '1', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const high = run('--random-share', '1.5', '--out', mkdtempSync(join(tmpdir(), 'dcign-cli-')));
    expect(high.status, high.stderr).toBe(1);
    expect(high.stderr).toContain('--random-share must be in [0, 1], got 1.5');
    const both = run('--random-share', '0.5', '--procedure', 'random', '--out', mkdtempSync(join(tmpdir(), 'dcign-cli-')));
    expect(both.status, both.stderr).toBe(1);
    expect(both.stderr).toContain('--random-share mixes random batches into --procedure clamped');
  }, 120_000);

  it('names each invalid option and exits 1 before training', () => {
    const out = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
    // With --steps 1, a check that is missing shows as a one-step run, not a long one.
    const cases: [string[], string][] = [
      [['--preset', 'huge'], '--preset must be one of'],
      [['--procedure', 'sometimes'], '--procedure must be clamped or random, got "sometimes"'],
      [['--resume', join(out, 'nothing')], `--resume ${join(out, 'nothing')}: no model.safetensors there`],
      [['--preset', 'tiny', '--steps', '0'], '--steps must be an integer >= 1, got "0"'],
      [['--preset', 'tiny', '--steps', '1', '--batch', '1'], '--batch must be an integer >= 2, got "1"'],
      [['--preset', 'tiny', '--steps', '1', '--lr', 'fast'], '--lr must be a number > 0, got "fast"'],
      [['--preset', 'tiny', '--steps', '1', '--shape-bias=-1'], '--shape-bias must be a number >= 0, got "-1"'],
      [['--preset', 'tiny', '--stepz', '3'], "Unknown option '--stepz'"],
    ];
    for (const [args, message] of cases) {
      const r = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--out', out, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${args.join(' ')}: ${r.stdout}${r.stderr}`).toBe(1);
      expect(r.stderr, args.join(' ')).toContain(message);
    }
    expect(readdirSync(out)).toEqual([]);
  }, 120_000);

  it('continues a random run clamped when --resume is given --procedure, and keeps the rest', () => {
    const run = (...args: string[]) => {
      const r = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return r.stdout;
    };
    const pre = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
    const post = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
    run('--preset', 'tiny', '--procedure', 'random', '--steps', '4', '--log-every', '1', '--lr', '0.002', '--out', pre);
    const text = run('--resume', pre, '--procedure', 'clamped', '--invariance', '0.01', '--steps', '12', '--out', post);
    expect(text).toContain('changed from the checkpoint: procedure random -> clamped, invariance 0 -> 0.01');
    expect(text).toMatch(/resuming at step 4: preset tiny, 12 steps .*procedure clamped \(clamp first\), invariance 0\.01/);
    const kinds = readFileSync(join(post, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string });
    expect(kinds.map((k) => k.step)).toEqual([5, 6, 7, 8, 9, 10, 11, 12]); // --log-every 1 kept from the checkpoint
    expect(kinds.every((k) => ['az', 'el', 'light', 'shape'].includes(k.kind)), JSON.stringify(kinds)).toBe(true);
    const saved = JSON.parse(decodeSafetensors(readFileSync(join(post, 'model.safetensors'))).metadata.options!) as Record<string, unknown>;
    expect(saved).toMatchObject({
      procedure: 'clamped', invariance: 0.01, lr: 0.002, logEvery: 1,
      history: [{ step: 4, changed: { procedure: ['random', 'clamped'], invariance: [0, 0.01] } }],
    });
  }, 120_000);

  it('pretrains with random batches and switches to the clamped procedure in one run (--pretrain-steps)', () => {
    const out = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
    const args = ['--preset', 'tiny', '--steps', '9', '--pretrain-steps', '5', '--clamp', 'mean', '--random-share', '0', '--log-every', '1', '--checkpoint-every', '3', '--out', out];
    const r = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/training: preset tiny, 9 steps of batch 20, 5 steps random, then procedure clamped \(clamp mean\)/);
    const kinds = readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number; kind: string });
    expect(kinds.map((k) => k.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(kinds.slice(0, 5).every((k) => k.kind === 'random'), JSON.stringify(kinds)).toBe(true);
    expect(kinds.slice(5).every((k) => ['az', 'el', 'light', 'shape'].includes(k.kind)), JSON.stringify(kinds)).toBe(true);
    const saved = JSON.parse(decodeSafetensors(readFileSync(join(out, 'model.safetensors'))).metadata.options!) as Record<string, unknown>;
    expect(saved).toMatchObject({ procedure: 'clamped', clamp: 'mean', pretrainSteps: 5, history: [{ step: 5, changed: { procedure: ['random', 'clamped'] } }] });
    expect((saved.history as unknown[]).length).toBe(1);
  }, 120_000);

  it('refuses an unknown --clamp and --pretrain-steps with the random procedure, naming the option', () => {
    const run = (...args: string[]) =>
      spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--preset', 'tiny', '--steps', '1', ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    const clamp = run('--clamp', 'last', '--out', mkdtempSync(join(tmpdir(), 'dcign-cli-')));
    expect(clamp.status).toBe(1);
    expect(clamp.stderr).toContain('error: --clamp must be first or mean, got "last"');
    const pre = run('--pretrain-steps', '3', '--procedure', 'random', '--out', mkdtempSync(join(tmpdir(), 'dcign-cli-')));
    expect(pre.status).toBe(1);
    expect(pre.stderr).toContain('--pretrain-steps trains random batches before --procedure clamped');
  }, 120_000);

  it('fills a fresh clamped run from the default recipe, --recipe paper from the original code, flags over both', () => {
    const saved = (...args: string[]) => {
      const out = mkdtempSync(join(tmpdir(), 'dcign-cli-'));
      const r = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--preset', 'tiny', '--steps', '1', '--out', out, ...args], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stdout + r.stderr).toBe(0);
      return JSON.parse(decodeSafetensors(readFileSync(join(out, 'model.safetensors'))).metadata.options!) as Record<string, unknown>;
    };
    expect(saved()).toMatchObject({ procedure: 'clamped', ...DEFAULT_RECIPE.tiny });
    expect(saved('--recipe', 'paper')).toMatchObject({ procedure: 'clamped', clamp: 'first', pretrainSteps: 0, randomShare: 0 });
    expect(saved('--recipe', 'paper', '--clamp', 'mean')).toMatchObject({ clamp: 'mean', pretrainSteps: 0, randomShare: 0 });
    expect(saved('--procedure', 'random')).toMatchObject({ procedure: 'random', pretrainSteps: 0, randomShare: 0 });
    const bad = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--recipe', 'best'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain('error: --recipe must be default or paper, got "best"');
    const resumed = spawnSync(process.execPath, ['scripts/run.mjs', 'src/cli/train.ts', '--', '--resume', root, '--recipe', 'paper'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    expect(resumed.status).toBe(1);
    expect(resumed.stderr).toContain('error: --recipe chooses how a fresh run trains; with --resume give --clamp');
  }, 300_000);
});
