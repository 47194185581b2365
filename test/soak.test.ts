// Soak: a few hundred `tiny` steps on rendered faces, with logs, samples and checkpoints as a
// run writes them. After warm-up the pool's bytes (in use and allocated) must not move at all,
// and the JS heap, after a collection, must stay within a small band. A leaked tensor or
// buffer per step fails the first; a leaked record per step, the second.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';

const ctx = useEngine();

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const STEPS = 300;
const WARM_UP = 100;
const EVERY = 25;
const HEAP_BAND = 2 * 2 ** 20;

describe('soak', () => {
  it(`${STEPS} tiny steps: pool bytes flat after warm-up, heap within ${HEAP_BAND / 2 ** 20} MiB`, async () => {
    const o: TrainOptions = {
      preset: 'tiny', steps: STEPS, batch: 8, lr: 2e-3, seed: 4, out: mkdtempSync(join(tmpdir(), 'dcign-soak-')), procedure: 'clamped',
      shapeBias: 0, invariance: 0.01, logEvery: 10, sampleEvery: 50, checkpointEvery: 50,
    };
    const trainer = Trainer.create(ctx.engine, o, new FaceBatches(ctx.engine, { ...o, imageSize: 16 }));
    const pool = ctx.engine.pool.stats;
    const samples: { step: number; inUse: number; allocated: number; heap: number }[] = [];
    await trainer.run({
      onStep: (step) => {
        if (step < WARM_UP || step % EVERY) return;
        gc();
        samples.push({ step, inUse: pool.inUseBytes, allocated: pool.allocatedBytes, heap: process.memoryUsage().heapUsed });
      },
    });
    trainer.dispose();
    const first = samples[0]!;
    const mib = (n: number) => (n / 2 ** 20).toFixed(2);
    console.log(
      `soak: pool in use ${mib(first.inUse)} MiB, allocated ${mib(first.allocated)} MiB; heap ` +
        samples.map((s) => `${s.step}:${mib(s.heap)}`).join(' ') + ' MiB',
    );
    expect(samples.map((s) => s.inUse)).toEqual(samples.map(() => first.inUse));
    expect(samples.map((s) => s.allocated)).toEqual(samples.map(() => first.allocated));
    const heaps = samples.map((s) => s.heap);
    expect(Math.max(...heaps) - heaps[0]!).toBeLessThan(HEAP_BAND);
  }, 180_000);
});
