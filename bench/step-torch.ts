// The PyTorch peer of `npm run bench -- step` (--torch): bench/torch_step.py on the CPU, run as a
// child process right after ours, its per-step times read from the JSON it writes. It trains the
// same network, loss and RMSProp on the same number of images, from its own weights and images,
// so its time compares with ours and its losses do not.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../src/cli/repo-root.js';
import { emptyRow, type StepFlopCounts, type StepRow } from './step-row.js';

/** Debian's python3-torch is installed for this interpreter; a virtual environment's would not be. */
export const TORCH_PYTHON = process.env.DCIGN_PYTHON ?? '/usr/bin/python3';

export function runTorch(o: { preset: string; batch: number; steps: number; kind: string }, flops: StepFlopCounts, log: (line: string) => void): { row: StepRow; loaded: boolean } {
  const row = emptyRow('pytorch', o.preset, o.batch, o.steps, { nominal: flops.nominal, executed: flops.nominal });
  const dir = mkdtempSync(join(tmpdir(), 'dcign-torch-'));
  try {
    const out = join(dir, 'step.json');
    const args = ['bench/torch_step.py', '--preset', o.preset, '--batch', String(o.batch), '--steps', String(o.steps), '--kind', o.kind, '--json', out];
    const r = spawnSync(TORCH_PYTHON, args, { cwd: repoRoot(), encoding: 'utf8' });
    if (r.error || r.status !== 0) {
      const why = r.error ? r.error.message : (r.stderr.trim().split('\n').at(-1) ?? `exit ${r.status}`);
      row.error = `${TORCH_PYTHON} ${args.join(' ')}: ${why} (PyTorch for that interpreter: Debian's python3-torch; DCIGN_PYTHON names another)`;
      return { row, loaded: false };
    }
    const j = JSON.parse(readFileSync(out, 'utf8')) as { msPerStep: number; stepMs: number[]; warmup: number; torch: string; device: string };
    row.msPerStep = j.msPerStep;
    row.stepMs = j.stepMs;
    row.warmup = j.warmup;
    row.gflops = flops.nominal / j.msPerStep / 1e6;
    row.executedGflops = row.gflops;
    log(`  pytorch ${j.torch} on ${j.device}: ${j.msPerStep.toFixed(0)} ms a step (median of ${j.stepMs.length}, after ${j.warmup} warm-up)`);
    return { row, loaded: true };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
