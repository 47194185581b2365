// Claiming a run folder for `npm run train` (Node): a folder that already holds a run is never
// written over by accident, and a lock file keeps two processes out of one folder. The checks
// that can refuse run before anything is written, so a refused command leaves the folder as it was.
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, renameSync, rmSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { LOG_FILE, MODEL_FILE } from './state.js';
import { writeFileAtomic } from './files.js';

export const LOCK_FILE = 'train.lock';

/** What a refused claim tells the user: one line, naming the folder and the ways forward. */
export class RunFolderError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RunFolderError';
  }
}

/** The entries of `dir` that a training run writes (and that a new run there would replace or mix with). */
export function runFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f === MODEL_FILE || f === LOG_FILE || f === 'samples' || /^train-state-\d+\.safetensors$/.test(f))
    .sort();
}

/**
 * Drops the records of `dir`/log.jsonl past `step` (and a last line a kill cut short): a run
 * resumed from the checkpoint at `step` takes those steps again and logs them anew. The log is
 * rewritten atomically, and only when something is dropped. Returns the records dropped.
 */
export function truncateLog(dir: string, step: number): number {
  const path = join(dir, LOG_FILE);
  if (!existsSync(path)) return 0;
  const lines = readFileSync(path, 'utf8').split('\n');
  const kept: string[] = [];
  let dropped = 0;
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    const at = recordStep(line);
    // A line that does not parse is the last one cut short by a kill, or damage left for the reader.
    const cutShort = at === undefined && i === lines.length - 1;
    if (cutShort || (typeof at === 'number' && at > step)) dropped++;
    else kept.push(line);
  }
  if (dropped) writeFileAtomic(path, kept.map((l) => l + '\n').join(''));
  return dropped;
}

/** A log line's step: undefined when the line is not JSON, null when it has no numeric step. */
function recordStep(line: string): number | null | undefined {
  try {
    const step = (JSON.parse(line) as { step?: unknown }).step;
    return typeof step === 'number' ? step : null;
  } catch {
    return undefined;
  }
}

/** The step of the checkpoint on disk in `dir`, read from the model file's header alone; null when there is none. */
export function checkpointStep(dir: string): number | null {
  const path = join(dir, MODEL_FILE);
  if (!existsSync(path)) return null;
  try {
    const fd = openSync(path, 'r');
    try {
      const head = Buffer.alloc(8);
      readExactly(fd, head, 0);
      const length = Number(head.readBigUInt64LE(0));
      if (length > 100 * 2 ** 20) return null;
      const json = Buffer.alloc(length);
      readExactly(fd, json, 8);
      const step = Number((JSON.parse(json.toString('utf8')) as { __metadata__?: { step?: string } }).__metadata__?.step);
      return Number.isInteger(step) ? step : null;
    } finally {
      closeSync(fd);
    }
  } catch {
    return null;
  }
}

function readExactly(fd: number, into: Buffer, position: number): void {
  let at = 0;
  while (at < into.length) {
    const n = readSync(fd, into, at, into.length - at, position + at);
    if (n === 0) throw new Error('short read');
    at += n;
  }
}

/** "DIR/model.safetensors (step N)" or a sentence saying there is none: true whatever happened before. */
export function describeCheckpoint(dir: string): string {
  const step = checkpointStep(dir);
  return step === null ? `no checkpoint has been written to ${dir} yet` : `the last checkpoint on disk is ${join(dir, MODEL_FILE)} (step ${step})`;
}

interface LockHolder {
  pid: number;
  host: string;
  started: string;
}

function readLock(path: string): LockHolder | null {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as LockHolder;
  } catch {
    return null; // vanished, or half-written by a process killed mid-write: nobody holds it
  }
}

/** Whether the process that wrote the lock may still be running (another host's we cannot see: assume so). */
function holderAlive(h: LockHolder | null): boolean {
  if (!h || !Number.isInteger(h.pid) || h.pid <= 0) return false;
  if (h.host !== hostname()) return true;
  if (h.pid === process.pid) return false; // a lock of this very process is left over from an earlier life of its pid
  try {
    process.kill(h.pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A process that started after the lock was written is not its writer: the pid was reused.
  const start = processStart(h.pid);
  const written = Date.parse(h.started);
  return start === null || !Number.isFinite(written) || start <= written + 2000;
}

/** When process `pid` started (ms since the epoch), from Linux's /proc; null elsewhere or when unreadable. */
function processStart(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses; starttime is field 22, in clock
    // ticks (100 a second on Linux) after boot.
    const ticks = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
    const boot = Number(/^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'))?.[1]);
    return Number.isFinite(ticks) && Number.isFinite(boot) ? (boot + ticks / 100) * 1000 : null;
  } catch {
    return null;
  }
}

function inUse(dir: string, h: LockHolder): RunFolderError {
  return new RunFolderError(
    `${dir} is in use by another training process (pid ${h.pid} on ${h.host}, since ${h.started}); ` +
      `wait for it to finish or stop it, or choose another --out (if no such process runs, delete ${join(dir, LOCK_FILE)})`,
  );
}

export interface RunLock {
  /** Set when a lock left by a dead process was taken over. */
  tookOverFrom: number | null;
  /** Where --overwrite moved the old run's files, or null. */
  movedTo: string | null;
  /**
   * Temporary files of checkpoint, state or sample writes that a killed run left half-written
   * (relative to the folder), removed once the lock was held: no live writer can own them.
   */
  removedTemporaries: string[];
  release(): void;
}

// writeFileAtomic's temporaries (".NAME.PID.tmp") of the files a training run writes.
const RUN_TEMPORARY = /^\.(model\.safetensors|train-state-\d+\.safetensors)\.\d+\.tmp$/;
const SAMPLE_TEMPORARY = /^\.step-\d+\.png\.\d+\.tmp$/;

function removeTemporaries(dir: string): string[] {
  const removed: string[] = [];
  for (const [sub, pattern] of [['', RUN_TEMPORARY], ['samples', SAMPLE_TEMPORARY]] as const) {
    const at = join(dir, sub);
    if (!existsSync(at)) continue;
    for (const f of readdirSync(at).filter((f) => pattern.test(f)).sort()) {
      rmSync(join(at, f), { force: true });
      removed.push(sub ? join(sub, f) : f);
    }
  }
  return removed;
}

export type ClaimMode = 'new' | 'resume' | 'overwrite';

/**
 * Claims `dir` for a run: 'new' refuses a folder that holds a run, 'resume' continues the run
 * there, 'overwrite' moves the old run's files into DIR/previous-STAMP (never deletes them).
 * The lock is released when the process exits, however it exits short of SIGKILL.
 */
export function claimRunFolder(dir: string, mode: ClaimMode): RunLock {
  const lockPath = join(dir, LOCK_FILE);
  const holder = existsSync(lockPath) ? readLock(lockPath) : null;
  if (holder && holderAlive(holder)) throw inUse(dir, holder);
  const files = runFiles(dir);
  if (mode === 'new' && files.length) {
    const step = checkpointStep(dir);
    throw new RunFolderError(
      `--out ${dir} already holds a run (${step === null ? files.join(', ') : `checkpoint at step ${step}`}); ` +
        `continue it with --resume ${dir}, start over with --overwrite (moves its files to ${join(dir, 'previous-*')}), or choose another --out`,
    );
  }
  mkdirSync(dir, { recursive: true });
  const tookOverFrom = acquire(dir, lockPath);
  const removedTemporaries = removeTemporaries(dir);
  let movedTo: string | null = null;
  if (mode === 'overwrite' && files.length) {
    const stamp = new Date().toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
    movedTo = join(dir, `previous-${stamp}`);
    for (let n = 2; existsSync(movedTo); n++) movedTo = join(dir, `previous-${stamp}-${n}`);
    mkdirSync(movedTo);
    for (const f of files) renameSync(join(dir, f), join(movedTo, f));
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    if (readLock(lockPath)?.pid === process.pid) rmSync(lockPath, { force: true });
  };
  process.on('exit', release);
  return { tookOverFrom, movedTo, removedTemporaries, release };
}

/** Creates the lock file exclusively; a lock of a dead process is removed and the creation retried. */
function acquire(dir: string, lockPath: string): number | null {
  let tookOverFrom: number | null = null;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx');
      const me: LockHolder = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
      writeSync(fd, JSON.stringify(me) + '\n');
      closeSync(fd);
      return tookOverFrom;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const h = readLock(lockPath);
    if (h && holderAlive(h)) throw inUse(dir, h);
    // Not guarded: two processes that find the same stale lock within microseconds of each
    // other could both remove it; a lock's life is a training run, so this is left.
    tookOverFrom = h?.pid ?? null;
    rmSync(lockPath, { force: true });
  }
  throw new RunFolderError(`${dir}: could not take the lock ${lockPath}; another process keeps creating it`);
}
