// Diagnostic: trains a preset on ONE fixed batch of rendered faces (random procedure) and writes
// sample grids, to tell a model that cannot yet reconstruct detail from one that lacks data or
// steps. `node scripts/run.mjs scripts/overfit.ts -- [--preset small] [--steps 400] [--lr X]
// [--out runs/overfit]`, with `npm run train`'s default lr for the preset. 400 steps of `small`
// take about 5 minutes on lavapipe.
import { parseArgs } from 'node:util';
import { initEngine, ops, Tensor } from '../src/node.js';
import { Trainer } from '../src/train/trainer.js';
import { renderBatch, testSet } from '../src/data/batches.js';
import { getPreset, PRESETS } from '../src/model/presets.js';
import { runCommand, UserError } from '../src/cli/errors.js';
import { intFlag, numberFlag, outputFolder } from '../src/cli/flags.js';
import { DEFAULT_LR } from '../src/train/defaults.js';
import type { BatchSource } from '../src/train/batches.js';

const HELP = `Train a preset on one fixed batch of 20 rendered faces (random procedure), writing sample grids.

usage: node scripts/run.mjs scripts/overfit.ts -- [--preset small] [--steps 400] [--lr X] [--out runs/overfit]`;

async function main(): Promise<void> {
  const { values: a } = parseArgs({
    options: {
      preset: { type: 'string', default: 'small' },
      steps: { type: 'string', default: '400' },
      lr: { type: 'string' },
      out: { type: 'string', default: 'runs/overfit' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (a.help) return void console.log(HELP);
  if (!PRESETS[a.preset!]) throw new UserError(`--preset must be one of ${Object.keys(PRESETS).join(', ')}, got "${a.preset}"`);
  const steps = intFlag('steps', a.steps, 1)!;
  const lr = numberFlag('lr', a.lr, { above: 0 }) ?? DEFAULT_LR[a.preset!]!;
  outputFolder('--out', a.out!);
  const engine = await initEngine();
  const S = getPreset(a.preset!).imageSize;
  const batch = 20;
  const spec = testSet(3, { batchesPerType: 1, count: batch, types: ['random'] })[0]!;
  const fixed = renderBatch(spec, { size: S }, engine).images;
  const pixels = await fixed.data();
  const source: BatchSource = {
    batch: () => ({ type: 'random', images: ops.clone(fixed) }),
    heldOut: (n) => Tensor.fromData(pixels.subarray(0, n * S * S), [n, 1, S, S], 'f32', engine),
  };
  const options = {
    preset: a.preset!, steps, batch, lr, seed: 1, out: a.out!, procedure: 'random' as const,
    shapeBias: 0, invariance: 0, logEvery: 10, sampleEvery: Math.max(1, Math.floor(steps / 4)), checkpointEvery: steps,
  };
  const logs = await Trainer.create(engine, options, source).run();
  for (const r of logs.filter((_, i) => i % 5 === 0)) console.log(`step ${r.step}: bce/image ${(r.bce / batch).toFixed(0)}, kl/image ${(r.kl / batch).toFixed(1)}`);
  console.log(`sample grids in ${a.out}/samples`);
  engine.destroy();
}

runCommand(main);
