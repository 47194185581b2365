// Soak: 300 `tiny` steps on rendered faces, with logs, samples and checkpoints as a run writes
// them (scripts/soak.ts). After warm-up the pool's bytes (in use and allocated) must not move at
// all, and the JS heap after a collection must stay within a small band. A leaked tensor or
// buffer per step fails the first; a leaked record per step, the second.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { describeSoak, soak } from '../scripts/soak.js';

const ctx = useEngine();
const HEAP_BAND = 2 * 2 ** 20;

describe('soak', () => {
  it(`300 tiny steps: pool bytes flat after warm-up, heap within ${HEAP_BAND / 2 ** 20} MiB`, async () => {
    const samples = await soak(ctx.engine, { preset: 'tiny', steps: 300, warmUp: 100, every: 25, batch: 8 });
    console.log(`soak: ${describeSoak(samples)}`);
    const first = samples[0]!;
    expect(samples.map((s) => s.inUse)).toEqual(samples.map(() => first.inUse));
    expect(samples.map((s) => s.allocated)).toEqual(samples.map(() => first.allocated));
    const heaps = samples.map((s) => s.heap);
    expect(Math.max(...heaps) - heaps[0]!).toBeLessThan(HEAP_BAND);
  }, 600_000); // 10 s on an idle 2-core machine; several times that beside training runs
});
