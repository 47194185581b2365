import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { ops, Tensor } from '../src/node.js';
import * as ref from './ref/cpu.js';
import { noise, reparameterise as refRep, reparameteriseBackward as refRepGrad } from './ref/reparameterise.js';

// float32 exp on the GPU: a few ulps, so 1e-5 relative. The GPU's noise is float32 Box-Muller
// (log, sqrt, cos of an angle up to 2 pi): over 1e6 draws its worst absolute difference from the
// float64 port of the generator was 9e-6 (99.9% under 1e-6), and z scales it by sigma, up to
// e^1.5 = 4.5 here; so 5e-5 absolute where z or its gradient uses drawn eps.
const TOL = { atol: 1e-6, rtol: 1e-5 };
const NOISE_TOL = { atol: 5e-5, rtol: 1e-5 };
// Central differences with h = 1e-6 of a function with exp(0.5 logvar) up to e^10: ~1e-9 relative.
const FD = { atol: 1e-5, rtol: 1e-4 };

const cpuNoise = (shape: number[], seed: number, step: number, from = 0): ref.Arr =>
  ({ data: Float64Array.from({ length: ref.size(shape) }, (_, i) => noise(from + i, seed, step)), shape });

describe('reparameterise', () => {
  useEngine();

  it('with explicit eps: forward and gradients to mu and logvar on a ragged shape', async () => {
    const shape = [5, 37];
    await gradCheck({
      gpu: ([m, l, e]) => ops.reparameterise(m!, l!, { eps: e! }),
      cpu: ([m, l, e]) => refRep(m!, l!, e!),
      analytic: ([, l, e], R) => [...refRepGrad(R, l!, e!), R],
      inputs: [ref.random(shape, 1), ref.random(shape, 2, -3, 3), ref.random(shape, 3, -2.5, 2.5)],
      skip: [2],
      tol: TOL,
      fdTol: FD,
    });
  });

  it('clamps logvar to [-20, 20], with zero gradient where clamped', async () => {
    const shape = [4, 50];
    const lv = ref.random(shape, 4, -28, 28);
    const clamped = lv.data.filter((v) => v < -20 || v > 20).length;
    expect(clamped).toBeGreaterThan(20);
    await gradCheck({
      gpu: ([m, l, e]) => ops.reparameterise(m!, l!, { eps: e! }),
      cpu: ([m, l, e]) => refRep(m!, l!, e!),
      analytic: ([, l, e], R) => [...refRepGrad(R, l!, e!), R],
      inputs: [ref.random(shape, 5), lv, ref.random(shape, 6, -2, 2)],
      skip: [2],
      tol: TOL,
      // z up to e^10 * 2: central differences with h = 1e-6 round to ~1e-5 absolute there.
      fdTol: { atol: 1e-4, rtol: 1e-4 },
      fdSamples: 60,
    });
    // A narrower range on request.
    const z = ops.reparameterise(Tensor.fromData([0, 0], [1, 2]), Tensor.fromData([-8, 8], [1, 2]), { eps: Tensor.fromData([1, 1], [1, 2]), logvarMin: -2, logvarMax: 2 });
    expectClose(await z.data(), [Math.exp(-1), Math.exp(1)], 0, 1e-6, 'clamped to [-2, 2]');
  });

  it('draws eps from (seed, step, element index): reproducible, matching the generator\'s port', async () => {
    const shape = [7, 33];
    const mu = Tensor.fromData(ref.random(shape, 7).data, shape);
    const lv = Tensor.fromData(ref.random(shape, 8, -2, 2).data, shape);
    const a = await ops.reparameterise(mu, lv, 42, 3).data();
    const b = await ops.reparameterise(mu, lv, 42, 3).data();
    expect(b).toEqual(a);
    const otherSeed = await ops.reparameterise(mu, lv, 43, 3).data();
    const otherStep = await ops.reparameterise(mu, lv, 42, 4).data();
    const bigSeed = await ops.reparameterise(mu, lv, 42 + 2 ** 40, 3).data();
    for (const other of [otherSeed, otherStep, bigSeed]) {
      expect(other.filter((v, i) => v === a[i]).length).toBe(0);
    }
    const want = refRep(ref.random(shape, 7), ref.random(shape, 8, -2, 2), cpuNoise(shape, 42, 3));
    expectClose(a, want.data, NOISE_TOL.atol, NOISE_TOL.rtol, 'z with drawn eps vs the generator port');
    // The same element index gives the same draw whatever the tensor's shape.
    const zeros = (n: number) => ops.zeros([n]);
    const small = await ops.reparameterise(zeros(1000), zeros(1000), 9, 1).data();
    const large = await ops.reparameterise(zeros(5000), zeros(5000), 9, 1).data();
    expect(large.subarray(0, 1000)).toEqual(small);
  });

  it('with drawn eps: gradients to mu and logvar', async () => {
    const shape = [3, 41];
    const eps = cpuNoise(shape, 5, 17);
    await gradCheck({
      gpu: ([m, l]) => ops.reparameterise(m!, l!, 5, 17),
      cpu: ([m, l]) => refRep(m!, l!, eps),
      analytic: ([, l], R) => refRepGrad(R, l!, eps),
      inputs: [ref.random(shape, 9), ref.random(shape, 10, -3, 3)],
      tol: NOISE_TOL,
      fdTol: NOISE_TOL,
    });
  });

  it('eps over 1e6 draws has mean 0 and variance 1 within 0.01', async () => {
    const n = 1_000_000;
    for (const [seed, step] of [[1, 0], [123456789, 99]]) {
      const eps = await ops.reparameterise(ops.zeros([n]), ops.zeros([n]), seed!, step).data();
      let s = 0;
      let s2 = 0;
      for (const v of eps) {
        s += v;
        s2 += v * v;
      }
      const mean = s / n;
      const variance = s2 / n - mean * mean;
      expect(Math.abs(mean)).toBeLessThan(0.01);
      expect(Math.abs(variance - 1)).toBeLessThan(0.01);
    }
  });

  it('names the op and shapes in errors', () => {
    const a = Tensor.empty([2, 3]);
    expect(() => ops.reparameterise(a, Tensor.empty([3, 2]), 1)).toThrow(/reparameterise: mu and logvar differ in shape.*\[2,3\].*\[3,2\]/);
    expect(() => ops.reparameterise(a, a, {})).toThrow(/give a seed/);
    expect(() => ops.reparameterise(a, a, { eps: Tensor.empty([6]) })).toThrow(/eps must have the shape of mu/);
    expect(() => ops.reparameterise(a, a, -1)).toThrow(/seed must be a non-negative safe integer/);
  });
});

describe('reparameterise with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('draws the same eps when split into chunks, and the gradient matches', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    const shape = [3, 200_000]; // 2.4 MB a tensor: 3 chunks
    const eps = cpuNoise(shape, 77, 5);
    await gradCheck({
      gpu: ([m, l]) => ops.reparameterise(m!, l!, 77, 5),
      cpu: ([m, l]) => refRep(m!, l!, eps),
      analytic: ([, l], R) => refRepGrad(R, l!, eps),
      inputs: [ref.random(shape, 11), ref.random(shape, 12, -3, 3)],
      tol: NOISE_TOL,
      fdTol: NOISE_TOL,
      fdSamples: 8,
    });
  });
});
