// kill -9 at random moments: a `tiny` run that checkpoints every step is killed with SIGKILL
// again and again (during start-up, steps, checkpoint writes), resumed after each kill, and its
// final model and training state must equal, byte for byte, those of the same run left alone; its
// log must hold each step once with the same losses, and no half-written temporary may remain.
// `node scripts/run.mjs scripts/kill9.ts -- [--kills 100] [--seed 1]`; CI runs 10 kills
// (test/kill9.test.ts). The run is 60 steps per kill long (an idle machine trains about 36 steps in a life), so kills rarely find it finished.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { Rng } from '../src/data/rng.js';
import { checkpointStep, LOCK_FILE } from '../src/train/run-folder.js';
import { LOG_FILE, MODEL_FILE } from '../src/train/state.js';
import { repoRoot } from './build-web.js';

const root = repoRoot();
const TRAIN = ['scripts/run.mjs', 'src/cli/train.ts', '--'];

export interface KillReport {
  kills: number;
  steps: number;
  /** The step on disk after each kill. */
  stepsAtKills: (number | null)[];
  /**
   * Whether the final model.safetensors and train state equal the uninterrupted run's, its
   * log.jsonl holds the same records (step, kind, losses; not the seconds), and no temporary
   * file or lock is left.
   */
  identical: boolean;
  /** What differed, when something did. */
  differences: string[];
  seconds: number;
}

function runArgs(steps: number, seed: number): string[] {
  return ['--preset', 'tiny', '--steps', String(steps), '--seed', String(seed), '--checkpoint-every', '1', '--sample-every', '0', '--log-every', '1'];
}

/** When a life ends: `ms` after the start, or after the trainer says it starts stepping; null: it finishes. */
type Kill = { ms: number; after: 'spawn' | 'ready' } | null;

/** One life of the run: started (or resumed), then SIGKILLed as `kill` says. */
function life(args: string[], kill: Kill): Promise<{ killed: boolean; output: string }> {
  const child = spawn(process.execPath, [...TRAIN, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let timer: NodeJS.Timeout | null = null;
  const arm = () => (timer ??= setTimeout(() => child.kill('SIGKILL'), kill!.ms));
  if (kill?.after === 'spawn') arm();
  child.stdout.on('data', (d) => {
    output += d;
    if (kill?.after === 'ready' && /^(training|resuming at step \d+): /m.test(output)) arm();
  });
  child.stderr.on('data', (d) => (output += d));
  return new Promise((done, fail) => {
    child.on('exit', (code, signal) => {
      if (timer) clearTimeout(timer);
      if (signal === 'SIGKILL') return done({ killed: true, output });
      if (code !== 0) return fail(new Error(`train exited with ${code} (${args.join(' ')}):\n${output}`));
      done({ killed: false, output });
    });
  });
}

export async function killAndResume(o: { kills: number; seed?: number; dir?: string; log?: (line: string) => void }): Promise<KillReport> {
  const t0 = performance.now();
  const seed = o.seed ?? 1;
  const steps = 60 * o.kills;
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'dcign-kill9-'));
  const straight = join(dir, 'straight');
  const killed = join(dir, 'killed');
  const ref = spawnSync(process.execPath, [...TRAIN, ...runArgs(steps, seed), '--out', straight], { cwd: root, encoding: 'utf8' });
  if (ref.status !== 0) throw new Error(`the uninterrupted run failed:\n${ref.stdout}${ref.stderr}`);

  const rng = Rng.fromSeed(seed, 0x6b39);
  // Before the first checkpoint there is nothing to resume: start over (what was written moves aside).
  const next = () => (existsSync(join(killed, MODEL_FILE)) ? ['--resume', killed, '--steps', String(steps)] : [...runArgs(steps, seed), '--out', killed, '--overwrite']);
  const stepsAtKills: (number | null)[] = [];
  while (stepsAtKills.length < o.kills) {
    // A quarter of the kills land in start-up (bundling, Dawn, the lock, the checkpoint read),
    // the rest in the 2.5 s after the trainer starts: its first step (a second of pipeline
    // compiles on lavapipe), then steps and checkpoint writes, ten a second.
    const kill: Kill = rng.uniform() < 0.25 ? { ms: rng.range(0, 1500), after: 'spawn' } : { ms: rng.range(0, 2500), after: 'ready' };
    const { killed: wasKilled } = await life(next(), kill);
    if (!wasKilled) break; // finished first: no more to kill
    stepsAtKills.push(checkpointStep(killed));
    o.log?.(`kill ${stepsAtKills.length}: checkpoint on disk at step ${stepsAtKills.at(-1)}`);
  }
  await life(next(), null);
  const same = (f: string) => existsSync(join(killed, f)) && readFileSync(join(straight, f)).equals(readFileSync(join(killed, f)));
  const stateFile = `train-state-${String(steps).padStart(8, '0')}.safetensors`;
  const records = (d: string) =>
    readFileSync(join(d, LOG_FILE), 'utf8').trim().split('\n').map((l) => {
      const { seconds: _, ...r } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(r);
    });
  const differences: string[] = [];
  if (!same(MODEL_FILE)) differences.push(MODEL_FILE);
  if (!same(stateFile)) differences.push(stateFile);
  if (records(straight).join('\n') !== records(killed).join('\n')) differences.push('log.jsonl records');
  const leftovers = readdirSync(killed).filter((f) => f.endsWith('.tmp') || f === LOCK_FILE);
  if (leftovers.length) differences.push(`left behind: ${leftovers.join(', ')}`);
  const report = {
    kills: stepsAtKills.length,
    steps,
    stepsAtKills,
    identical: differences.length === 0,
    differences,
    seconds: (performance.now() - t0) / 1000,
  };
  if (!o.dir) rmSync(dir, { recursive: true, force: true });
  return report;
}

if (process.argv[1] && /kill9\.(ts|mjs)$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: a } = parseArgs({ options: { kills: { type: 'string', default: '100' }, seed: { type: 'string', default: '1' } } });
  const r = await killAndResume({ kills: Number(a.kills), seed: Number(a.seed), log: (l) => console.log(l) });
  console.log(
    `${r.kills} kills over ${r.steps} steps in ${r.seconds.toFixed(0)} s; final model, train state and log ${r.identical ? 'identical to' : `DIFFER from (${r.differences.join('; ')})`} the uninterrupted run's`,
  );
  process.exit(r.identical && r.kills === Number(a.kills) ? 0 : 1);
}
