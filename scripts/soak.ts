// Soak: trains a preset on rendered faces for many steps, with logs, samples and checkpoints as
// a run writes them, and samples the buffer pool's bytes and the collected JS heap as it goes.
// After warm-up both must be flat. `node scripts/run.mjs scripts/soak.ts --
// [--preset small] [--steps 1000]`; CI runs 300 `tiny` steps (test/soak.test.ts).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Engine } from '../src/gpu/engine.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';
import { getPreset } from '../src/model/presets.js';
import { DEFAULT_LR } from '../src/train/defaults.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

export interface SoakSample {
  step: number;
  inUse: number;
  allocated: number;
  heap: number;
}

export async function soak(engine: Engine, o: { preset: string; steps: number; warmUp: number; every: number; batch?: number }): Promise<SoakSample[]> {
  const out = mkdtempSync(join(tmpdir(), 'dcign-soak-'));
  const options: TrainOptions = {
    preset: o.preset, steps: o.steps, batch: o.batch ?? 8, lr: DEFAULT_LR[o.preset] ?? 1e-3, seed: 4, out, procedure: 'clamped',
    shapeBias: 0, invariance: 0.01, logEvery: 10, sampleEvery: 50, checkpointEvery: 50,
  };
  const trainer = Trainer.create(engine, options, new FaceBatches(engine, { ...options, imageSize: getPreset(o.preset).imageSize }));
  const pool = engine.pool.stats;
  const samples: SoakSample[] = [];
  await trainer.run({
    onStep: (step) => {
      if (step < o.warmUp || step % o.every) return;
      gc();
      samples.push({ step, inUse: pool.inUseBytes, allocated: pool.allocatedBytes, heap: process.memoryUsage().heapUsed });
    },
  });
  trainer.dispose();
  rmSync(out, { recursive: true, force: true });
  return samples;
}

const mib = (n: number) => (n / 2 ** 20).toFixed(2);

export function describeSoak(samples: SoakSample[]): string {
  const first = samples[0]!;
  const heaps = samples.map((s) => s.heap);
  const flat = (k: 'inUse' | 'allocated') => samples.every((s) => s[k] === first[k]);
  return (
    `steps ${first.step}-${samples.at(-1)!.step}: pool in use ${mib(first.inUse)} MiB (${flat('inUse') ? 'flat' : 'MOVED'}), ` +
    `allocated ${mib(first.allocated)} MiB (${flat('allocated') ? 'flat' : 'MOVED'}); heap after collection ${mib(Math.min(...heaps))}-${mib(Math.max(...heaps))} MiB, ` +
    `first ${mib(heaps[0]!)}, last ${mib(heaps.at(-1)!)}`
  );
}

if (process.argv[1] && /soak\.(ts|mjs)$/.test(process.argv[1]) && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values: a } = parseArgs({ options: { preset: { type: 'string', default: 'small' }, steps: { type: 'string', default: '1000' } } });
  const { initEngine } = await import('../src/node.js');
  const engine = await initEngine();
  const steps = Number(a.steps);
  const t0 = performance.now();
  const samples = await soak(engine, { preset: a.preset!, steps, warmUp: Math.min(100, steps / 4), every: Math.max(1, Math.round(steps / 40)) });
  console.log(`soak ${a.preset} on ${engine.report}, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log(describeSoak(samples));
  for (const s of samples) console.log(`  ${s.step}\t${s.inUse}\t${s.allocated}\t${s.heap}`);
  engine.destroy();
}
