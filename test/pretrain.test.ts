// --pretrain-steps N is the original authors' two commands in one run: N steps of random batches,
// then the clamped procedure. The one run must train exactly what the two commands train.
import { describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { useEngine } from './setup/engine.js';
import { weights } from './setup/weights.js';
import { Trainer, type TrainOptions } from '../src/train/trainer.js';
import { FaceBatches } from '../src/train/batches.js';
import { getPreset } from '../src/model/presets.js';

const ctx = useEngine();

function options(steps: number, extra: Partial<TrainOptions>): TrainOptions {
  return {
    preset: 'tiny', steps, batch: 4, lr: 5e-4, seed: 5, out: mkdtempSync(join(tmpdir(), 'dcign-')), procedure: 'clamped', shapeBias: 0,
    invariance: 0, logEvery: 1000, sampleEvery: 0, checkpointEvery: 1000, ...extra,
  };
}

const faces = (o: TrainOptions, imageSize = getPreset(o.preset).imageSize) => new FaceBatches(ctx.engine, { ...o, imageSize });

describe('--pretrain-steps', () => {
  it('trains bit for bit what a random run resumed with --procedure clamped (and the recipe) trains', async () => {
    const one = options(8, { pretrainSteps: 4, clamp: 'mean', randomShare: 0.5 });
    const straight = Trainer.create(ctx.engine, one, faces(one));
    await straight.run();
    expect(straight.options.history).toEqual([{ step: 4, changed: { procedure: ['random', 'clamped'] } }]);

    const pre = options(4, { procedure: 'random' });
    const first = Trainer.create(ctx.engine, pre, faces(pre));
    await first.run();
    first.dispose();
    const resumed = Trainer.resume(ctx.engine, pre.out, { ...pre, steps: 8 }, faces, { procedure: 'clamped', clamp: 'mean', randomShare: 0.5 });
    await resumed.run();
    expect(await weights(resumed.model)).toEqual(await weights(straight.model));
    straight.dispose();
    resumed.dispose();
  });

  it('leaves pretraining\'s random batches unfiltered by --random-encoder scene; the clamped procedure\'s are filtered', async () => {
    const train = async (o: TrainOptions) => {
      const t = Trainer.create(ctx.engine, o, faces(o));
      await t.run();
      const w = await weights(t.model);
      t.dispose();
      return w;
    };
    const base = { pretrainSteps: 4, clamp: 'mean', randomShare: 1 } as const;
    expect(await train(options(4, { ...base, randomEncoder: 'scene' }))).toEqual(await train(options(4, base)));
    expect(await train(options(6, { ...base, randomEncoder: 'scene' }))).not.toEqual(await train(options(6, base)));
  });
});
