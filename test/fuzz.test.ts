// The checkpoint and image loaders against 1,000 seeded mutated files each (scripts/fuzz.ts):
// every case loads or ends in a clear error, quickly, without a large allocation.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { parameterShapes } from '../src/model/checkpoint.js';
import { formatReport, fuzzCheckpoints, fuzzImages } from '../scripts/fuzz.js';

const ctx = useEngine();

describe('fuzzing', () => {
  it('the checkpoint loader: 1,000 mutated safetensors files', async () => {
    const r = await fuzzCheckpoints(ctx.engine, 1000, 19);
    console.log(formatReport('checkpoints', r));
    expect(r.loaded + r.refused).toBe(1000);
    expect(r.refused).toBeGreaterThan(500); // the mutations reach the checks, not only the weights
    expect(r.peakRssGrowthMiB).toBeLessThan(256);
  }, 300_000);

  it('the image loader: 1,000 mutated PNG and JPEG files', async () => {
    const r = await fuzzImages(1000, 19);
    console.log(formatReport('images', r));
    expect(r.loaded + r.refused).toBe(1000);
    expect(r.refused).toBeGreaterThan(300);
    // Bounded by the loader's 25-megapixel limit: an image claiming 5000x5000 costs its RGBA, planes and gray copies.
    expect(r.peakRssGrowthMiB).toBeLessThan(1024);
  }, 300_000); // 10 s on an idle 2-core machine

  it('checks checkpoints against the shapes Dcign builds', () => {
    for (const preset of ['tiny', 'small']) {
      const model = new Dcign(getPreset(preset), 1, ctx.engine);
      expect(parameterShapes(model.config)).toEqual(new Map([...model.parameters()].map(([k, t]) => [k, [...t.shape]])));
      model.dispose();
    }
  });
});
