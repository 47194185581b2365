// A run that meets a lost device, a failed GPU allocation or a full disk stops with a message
// naming what happened and the checkpoint that survives, a non-zero exit, and that checkpoint
// still loads. The failures come from DCIGN_FAULT (src/train/faults.ts), injected after step 3
// of a run that checkpoints every step.
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { errorLines, train } from './setup/cli.js';
import { loadCheckpoint } from '../src/train/state.js';
import { EXIT } from '../src/cli/train-failures.js';

const ctx = useEngine();

function runWithFault(fault: string): { out: string; status: number | null; error: string } {
  const out = mkdtempSync(join(tmpdir(), 'dcign-fault-'));
  const r = train(['--preset', 'tiny', '--steps', '8', '--checkpoint-every', '1', '--sample-every', '0', '--out', out], { DCIGN_FAULT: `${fault}@3` });
  const lines = errorLines(r.stderr);
  expect(lines, r.stderr).toHaveLength(1); // one line, no stack
  return { out, status: r.status, error: lines[0]! };
}

function expectStep3Loads(out: string): void {
  const r = loadCheckpoint(out, ctx.engine, 'tiny');
  expect(r.step).toBe(3);
  r.model.dispose();
  // Only the pair of step 3: no state file of the failed step, no temporary files.
  expect(readdirSync(out).sort()).toEqual(['log.jsonl', 'model.safetensors', 'train-state-00000003.safetensors']);
}

const survivor = (out: string) => `the last checkpoint on disk is ${join(out, 'model.safetensors')} (step 3)`;

// CLI runs: a few seconds each on an idle machine, far longer beside training runs.
describe('train stops cleanly when', { timeout: 300_000 }, () => {
  it('the GPU device is lost', () => {
    const { out, status, error } = runWithFault('device-lost');
    expect(status).toBe(EXIT.deviceLost);
    expect(error).toBe(`error: the GPU device was lost (destroyed: device was destroyed); training stopped, and ${survivor(out)}; continue with --resume ${out}`);
    expectStep3Loads(out);
  });

  it('a GPU allocation fails', () => {
    const { out, status, error } = runWithFault('oom');
    expect(status).toBe(EXIT.gpuAllocation);
    // Named: the size, what it was for, the op that asked, and Dawn's reason.
    expect(error).toMatch(/^error: the GPU could not allocate [\d.]+ [KM]?i?B for a tensor in \w+ \(.*exceeds the max buffer size/);
    expect(error).toContain(`; training stopped, and ${survivor(out)}`);
    expectStep3Loads(out);
  });

  it('the disk is full when a checkpoint is written', () => {
    const { out, status, error } = runWithFault('enospc');
    expect(status).toBe(EXIT.checkpointWrite);
    expect(error).toBe(
      `error: could not write the checkpoint of step 4 to ${out} (ENOSPC: no space left on device, write); ` +
        `training stopped, and ${survivor(out)}, intact; continue with --resume ${out}`,
    );
    expectStep3Loads(out);
  });
});
