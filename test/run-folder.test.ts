// A folder holding a run is never written over by accident, and two processes never share one:
// `npm run train` as a user runs it, plus the lock's stale-holder rules at the function.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { claimRunFolder, describeCheckpoint, LOCK_FILE } from '../src/train/run-folder.js';
import { errorLines, snapshot, train, trainInBackground, until } from './setup/cli.js';

const tmp = () => mkdtempSync(join(tmpdir(), 'dcign-folder-'));
const TINY = ['--preset', 'tiny', '--sample-every', '0', '--log-every', '1'];

// CLI runs: a few seconds each on an idle machine, far longer beside training runs.
describe('train --out', { timeout: 300_000 }, () => {
  it('refuses a folder holding a finished run, names the ways forward, and changes no byte', () => {
    const out = tmp();
    expect(train([...TINY, '--steps', '3', '--out', out]).status).toBe(0);
    const before = snapshot(out);
    expect(Object.keys(before)).toEqual(['log.jsonl', 'model.safetensors', 'samples/step-0000003.png', 'train-state-00000003.safetensors']);

    const again = train([...TINY, '--steps', '3', '--out', out]);
    expect(again.status).not.toBe(0);
    const lines = errorLines(again.stderr);
    expect(lines, again.stderr).toHaveLength(1);
    expect(lines[0]).toBe(
      `error: --out ${out} already holds a run (checkpoint at step 3); continue it with --resume ${out}, ` +
        `start over with --overwrite (moves its files to ${join(out, 'previous-*')}), or choose another --out`,
    );
    expect(snapshot(out)).toEqual(before);
    expect(existsSync(join(out, LOCK_FILE))).toBe(false);
  });

  it('--overwrite moves the old run aside, byte for byte, and starts over', () => {
    const out = tmp();
    expect(train([...TINY, '--steps', '3', '--out', out]).status).toBe(0);
    const before = snapshot(out);
    const r = train([...TINY, '--steps', '2', '--out', out, '--overwrite']);
    expect(r.status, r.stderr).toBe(0);
    const moved = readdirSync(out).filter((f) => f.startsWith('previous-'));
    expect(moved).toHaveLength(1);
    expect(snapshot(join(out, moved[0]!))).toEqual(before);
    expect(describeCheckpoint(out)).toBe(`the last checkpoint on disk is ${join(out, 'model.safetensors')} (step 2)`);
    expect(readFileSync(join(out, 'log.jsonl'), 'utf8').trim().split('\n')).toHaveLength(2);
  });

  it('--resume after a kill: steps logged past the checkpoint are logged once, and half-written temporaries go', () => {
    const out = tmp();
    expect(train([...TINY, '--steps', '3', '--out', out]).status).toBe(0);
    const log = join(out, 'log.jsonl');
    const done = readFileSync(log, 'utf8');
    // What a kill after step 5's log line and before its checkpoint leaves: records of steps 4 and
    // 5 past the checkpoint at 3, a line cut short, and a checkpoint write's temporary.
    const late = (step: number) => JSON.stringify({ step, kind: 'random', bce: 1, kl: 1, seconds: 9 }) + '\n';
    writeFileSync(log, done + late(4) + late(5) + '{"step":6,"ki');
    writeFileSync(join(out, '.model.safetensors.999999.tmp'), 'half a checkpoint');
    writeFileSync(join(out, 'notes.tmp'), 'not ours');
    const r = train(['--resume', out, '--steps', '5']);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`removed 1 temporary file(s) an interrupted write left in ${out}: .model.safetensors.999999.tmp`);
    expect(r.stdout).toContain(`${log}: dropped 3 record(s) past step 3, the checkpoint's: those steps run again`);
    const steps = readFileSync(log, 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number; bce: number }));
    expect(steps.map((x) => x.step)).toEqual([1, 2, 3, 4, 5]);
    expect(steps.slice(3).every((x) => x.bce !== 1)).toBe(true); // the re-run's losses, not the stale ones
    expect(readFileSync(log, 'utf8').startsWith(done)).toBe(true);
    expect(readdirSync(out).sort()).toEqual(['log.jsonl', 'model.safetensors', 'notes.tmp', 'samples', 'train-state-00000005.safetensors']);
  });

  it('a second process on a folder in use refuses, naming the first', async () => {
    const out = tmp();
    const first = trainInBackground([...TINY, '--steps', '1000000', '--checkpoint-every', '5', '--out', out]);
    try {
      await until(() => existsSync(join(out, 'model.safetensors')), 60_000, `a first checkpoint\n${first.output()}`);
      for (const args of [['--resume', out], [...TINY, '--out', out, '--overwrite']]) {
        const second = train([...args, '--steps', '1000000']);
        expect(second.status).not.toBe(0);
        expect(errorLines(second.stderr), second.stderr).toEqual([
          expect.stringMatching(new RegExp(`^error: ${out} is in use by another training process \\(pid ${first.child.pid} on `)),
        ]);
      }
    } finally {
      first.child.kill('SIGINT');
      expect(await first.exited).toBe(130);
    }
    expect(existsSync(join(out, LOCK_FILE))).toBe(false); // released on the way out
  });
});

describe('what a stopped run says is on disk', () => {
  it('names the checkpoint and its step, or says there is none yet', () => {
    const dir = tmp();
    expect(describeCheckpoint(dir)).toBe(`no checkpoint has been written to ${dir} yet`);
    writeFileSync(join(dir, 'model.safetensors'), 'not a checkpoint'); // a damaged file is not a checkpoint
    expect(describeCheckpoint(dir)).toBe(`no checkpoint has been written to ${dir} yet`);
  });
});

describe('the run folder lock', () => {
  const lock = (dir: string, pid: number, host = hostname(), started = new Date().toISOString()) => {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ pid, host, started }));
  };

  it('takes over the lock of a process that is gone, and removes it on release', () => {
    const dir = tmp();
    const gone = spawnSync(process.execPath, ['-e', '']).pid!; // exited and reaped: its pid is free
    lock(dir, gone);
    const claim = claimRunFolder(dir, 'resume');
    expect(claim.tookOverFrom).toBe(gone);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    claim.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  });

  it('takes over a lock whose pid now belongs to a process started after the lock was written', () => {
    const dir = tmp();
    // The parent process lives, but it started after 2026-01-01: it cannot have written this lock.
    lock(dir, process.ppid, hostname(), '2026-01-01T00:00:00.000Z');
    const claim = claimRunFolder(dir, 'resume');
    expect(claim.tookOverFrom).toBe(process.ppid);
    claim.release();
  });

  it('refuses while the holder lives, or when it runs on another host', () => {
    const dir = tmp();
    lock(dir, process.ppid);
    expect(() => claimRunFolder(dir, 'resume')).toThrow(`is in use by another training process (pid ${process.ppid} on ${hostname()}`);
    lock(dir, 1, 'elsewhere');
    expect(() => claimRunFolder(dir, 'resume')).toThrow(`if no such process runs, delete ${join(dir, LOCK_FILE)}`);
  });
});
