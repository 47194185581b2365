// One full training step of the tiny preset on the GPU against a float64 CPU reference of the
// same step: a clamped batch with invariance targeting and fixed noise.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, Tensor, tidy, keep } from '../src/node.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset } from '../src/model/presets.js';
import { RMSProp } from '../src/train/optim.js';
import { forwardLosses } from '../src/train/step.js';
import { passThrough } from '../src/train/schedule.js';
import { random, type Arr } from './ref/cpu.js';
import { dcignStepRef } from './ref/dcign.js';

useEngine();

async function snapshot(model: Dcign): Promise<Map<string, Arr>> {
  const out = new Map<string, Arr>();
  for (const [name, t] of model.parameters()) out.set(name, { data: Float64Array.from(await t.data()), shape: [...t.shape] });
  return out;
}

describe('training step (tiny preset)', () => {
  for (const clamp of ['first', 'mean'] as const) {
    it(`matches the float64 reference with the ${clamp} clamp: losses, every gradient, every updated weight`, async () => {
      const cfg = getPreset('tiny');
      const model = new Dcign(cfg, 3);
      const N = 5;
      const S = cfg.imageSize;
      const x = random([N, 1, S, S], 21, 0.02, 0.98);
      const eps = random([N, cfg.latents], 22, -2, 2);
      const kind = 'el' as const;
      const invariance = 0.01;
      const params = await snapshot(model);
      const want = dcignStepRef(cfg, params, x, eps, passThrough(kind, cfg.latents), invariance, 5e-4, clamp);

      const images = Tensor.fromData(x.data, x.shape);
      const epsT = Tensor.fromData(eps.data, eps.shape);
      const opt = new RMSProp([...model.parameters().values()]);
      const losses = tidy(() => {
        const { bce, kl } = forwardLosses(model, images, kind, { procedure: 'clamped', clamp, invariance, seed: 0, step: 0, eps: epsT });
        backward(ops.add(bce, kl));
        return { bce: keep(bce), kl: keep(kl) };
      });
      // float32 sums over ~1300 pixels: 1e-5 relative.
      expect((await losses.bce.data())[0]).toBeCloseTo(want.bce, 2);
      expectClose(await losses.bce.data(), [want.bce], 0, 1e-5, 'bce');
      expectClose(await losses.kl.data(), [want.kl], 1e-6, 1e-4, 'kl');

      // Gradients through ten layers in float32: 2e-4 relative to the largest gradient of the tensor.
      for (const [name, t] of model.parameters()) {
        const g = want.grads.get(name)!;
        const scale = Math.max(...g.data.map(Math.abs));
        expect(scale, `${name} has a non-zero reference gradient`).toBeGreaterThan(0);
        expectClose(await t.grad!.data(), g.data, 2e-4 * scale, 1e-3, `gradient of ${name}`);
      }
      opt.step();
      // The first RMSProp step moves each weight by lr * g / sqrt(g^2 + 1e-6): Lipschitz 0.5 in g.
      for (const [name, t] of model.parameters()) {
        const g = want.grads.get(name)!;
        const scale = Math.max(...g.data.map(Math.abs));
        expectClose(await t.data(), want.updated.get(name)!.data, 1e-6 + 0.5 * 2e-4 * scale, 1e-5, `updated ${name}`);
      }
    });
  }
});
