import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, parameter, Tensor, tidy } from '../src/node.js';
import type { LatentOptions } from '../src/kernels/latents.js';
import * as ref from './ref/cpu.js';
import { latentsBackwardRef, latentsRef, type LatentRefOptions } from './ref/latents.js';
import { noise } from './ref/reparameterise.js';

// Tolerances. z: float32 exp, a few ulps: 1e-5 relative, 1e-6 absolute (reparameterise's). KL:
// a float32 sum of N * D terms up to ~e^3 each, 1e-5 relative. Gradients: the reparameterisation's
// and the KL's in float32 (1e-5 relative); invariance targeting, strength * (x - a float32 batch
// mean), within 1e-6 * strength of |x| ~ 3; the relative invariance sums squares over the batch
// and the latents in float32, so 1e-5 of its largest value (selective.test.ts's).

type Case = { name: string; o: LatentOptions; r: LatentRefOptions };

/** Every combination the trainer runs: no filter, the scene filter, and the clamps with and without invariance. */
function cases(D: number): Case[] {
  const range: [number, number] = [Math.min(1, D), Math.min(3, D)];
  const out: Case[] = [
    { name: 'no filter (random batches)', o: {}, r: { range: null } },
    { name: 'filter alone (random batches, scene encoder)', o: { passThrough: [0, range[1]] }, r: { range: [0, range[1]] } },
  ];
  for (const clamp of ['first', 'mean'] as const) {
    out.push({ name: `${clamp} clamp`, o: { passThrough: range, clamp }, r: { range, clamp } });
    out.push({ name: `${clamp} clamp, invariance 0.3`, o: { passThrough: range, clamp, invariance: 0.3 }, r: { range, clamp, invariance: 0.3 } });
    out.push({
      name: `${clamp} clamp, relative invariance 0.7`,
      o: { passThrough: range, clamp, invariance: 0.7, relative: true },
      r: { range, clamp, invariance: 0.7, invarianceMode: 'relative' },
    });
  }
  return out;
}

interface Ran {
  z: Float32Array;
  kl: number;
  gmu: Float32Array;
  glv: Float32Array;
}

/** sampleLatents on (mu, lv), then backward of sum(z * R) + c * kl (c null: of sum(z * R) alone). */
async function run(mu: ref.Arr, lv: ref.Arr, o: LatentOptions, R: ref.Arr, c: number | null): Promise<Ran> {
  const m = parameter(Tensor.fromData(mu.data, mu.shape));
  const l = parameter(Tensor.fromData(lv.data, lv.shape));
  const [z, kl] = tidy(() => {
    const { z, kl } = ops.sampleLatents(m, l, o);
    const dz = ops.sum(ops.mul(z, Tensor.fromData(R.data, R.shape)));
    backward(c === null ? dz : ops.add(dz, ops.mulScalar(kl, c)));
    return [z, kl];
  });
  const out = { z: await z.data(), kl: (await kl.data())[0]!, gmu: await m.grad!.data(), glv: await l.grad!.data() };
  for (const t of [m, l]) {
    t.grad!.dispose();
    t.dispose();
  }
  z.dispose();
  kl.dispose();
  return out;
}

function expectGrad(got: Float32Array, want: ref.Arr, what: string): void {
  const scale = want.data.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  expectClose(got, want.data, 1e-5 * scale + 1e-6, 1e-5, what);
}

describe('sampleLatents (filter, clamp, reparameterise and KL in one kernel)', () => {
  useEngine();

  // Ragged shapes: a batch of one, more latents than a workgroup has invocations, a few of each.
  for (const [N, D] of [[5, 37], [3, 300], [1, 7]] as const) {
    for (const { name, o, r } of cases(D)) {
      it(`${name}, [${N},${D}]: z, kl and both gradients match the float64 reference`, async () => {
        const mu = ref.random([N, D], 1 + D, -1.5, 1.5);
        const lv = ref.random([N, D], 2 + D, -3, 3);
        const eps = ref.random([N, D], 3 + D, -2.5, 2.5);
        const R = ref.random([N, D], 4 + D);
        const want = latentsRef(mu, lv, eps, r);
        const epsT = Tensor.fromData(eps.data, eps.shape);
        // A KL weight other than 1, so that the kernel must read kl's incoming gradient.
        const c = 0.6;
        const got = await run(mu, lv, { ...o, eps: epsT }, R, c);
        expectClose(got.z, want.z.data, 1e-6, 1e-5, 'z');
        expectClose([got.kl], [want.kl], 1e-6, 1e-5, 'kl');
        const [gmu, glv] = latentsBackwardRef(mu, lv, eps, r, R, c);
        expectGrad(got.gmu, gmu, 'gradient of mu');
        expectGrad(got.glv, glv, 'gradient of logvar');
        // Without kl in the loss, the reparameterisation's gradients alone (the kernel without GK).
        const zOnly = await run(mu, lv, { ...o, eps: epsT }, R, null);
        const [gmu0, glv0] = latentsBackwardRef(mu, lv, eps, r, R, 0);
        expectGrad(zOnly.gmu, gmu0, 'gradient of mu without kl');
        expectGrad(zOnly.glv, glv0, 'gradient of logvar without kl');
        epsT.dispose();
      });
    }
  }

  it('matches the separate ops it replaces, as the training step composed them', async () => {
    const [N, D] = [6, 41];
    const [s, e] = [3, 41];
    const mu = ref.random([N, D], 11, -1.5, 1.5);
    const lv = ref.random([N, D], 12, -3, 3);
    const R = ref.random([N, D], 13);
    for (const clamp of ['first', 'mean'] as const) {
      for (const relative of [false, true]) {
        const fused = await run(mu, lv, { passThrough: [s, e], clamp, invariance: 0.4, relative, seed: 9, step: 4 }, R, 1);
        const m = parameter(Tensor.fromData(mu.data, mu.shape));
        const l = parameter(Tensor.fromData(lv.data, lv.shape));
        const [z, kl] = tidy(() => {
          let mf = ops.gradientFilter(m, s, e, { invariance: 0.4, relative });
          let lf = ops.gradientFilter(l, s, e, { invariance: 0.4 });
          if (clamp === 'first') [mf, lf] = [ops.selectiveClamp(mf, s, e), ops.selectiveClamp(lf, s, e)];
          let z = ops.reparameterise(mf, lf, 9, 4);
          if (clamp === 'mean') z = ops.selectiveClamp(z, s, e, 'mean');
          const kl = ops.klLoss(mf, lf);
          backward(ops.add(ops.sum(ops.mul(z, Tensor.fromData(R.data, R.shape))), kl));
          return [z, kl];
        });
        const what = `${clamp} clamp${relative ? ', relative' : ''}`;
        // The same float32 arithmetic but for the order of the KL's and the spreads' sums.
        expect([...fused.z], `${what}: z`).toEqual([...(await z.data())]);
        expectClose([fused.kl], await kl.data(), 0, 1e-6, `${what}: kl`);
        expectClose(fused.gmu, await m.grad!.data(), 1e-7, 1e-6, `${what}: gradient of mu`);
        expectClose(fused.glv, await l.grad!.data(), 1e-7, 1e-6, `${what}: gradient of logvar`);
        for (const t of [m, l, m.grad!, l.grad!, z, kl]) t.dispose();
      }
    }
  });

  it('draws the noise reparameterise draws: the same (seed, step, element) stream', async () => {
    const [N, D] = [4, 29];
    const zeros = Tensor.fromData(new Float32Array(N * D), [N, D]);
    const { z } = ops.sampleLatents(zeros, zeros, { seed: 2 ** 40 + 5, step: 7 });
    const got = await z.data();
    expect([...got]).toEqual([...(await ops.reparameterise(zeros, zeros, 2 ** 40 + 5, 7).data())]);
    // And so the float64 port of the generator (reparameterise.test.ts's tolerance).
    expectClose(got, Float64Array.from({ length: N * D }, (_, i) => noise(i, 2 ** 40 + 5, 7)), 5e-5, 0, 'noise');
  });

  it('gradients inside the pass-through range agree with finite differences of the float64 forward', async () => {
    // What the fused backward adds up itself (the reparameterisation's and the KL's, weighted by
    // kl's incoming gradient); outside the range the filter replaces gradients, checked above.
    const [N, D] = [4, 9];
    const range: [number, number] = [2, 6];
    const mu = ref.random([N, D], 21, -1.5, 1.5);
    const lv = ref.random([N, D], 22, -3, 3);
    const eps = ref.random([N, D], 23, -2.5, 2.5);
    const R = ref.random([N, D], 24);
    const c = 1.7;
    const inRange = Array.from({ length: N * D }, (_, i) => i).filter((i) => i % D >= range[0] && i % D < range[1]);
    for (const clamp of ['first', 'mean'] as const) {
      const r: LatentRefOptions = { range, clamp };
      const epsT = Tensor.fromData(eps.data, eps.shape);
      const got = await run(mu, lv, { passThrough: range, clamp, eps: epsT }, R, c);
      const f = (m: ref.Arr, l: ref.Arr) => {
        const { z, kl } = latentsRef(m, l, eps, r);
        return ref.dot(z, R) + c * kl;
      };
      const fdMu = ref.finiteDiff((x) => f(x, lv), mu, inRange);
      const fdLv = ref.finiteDiff((x) => f(mu, x), lv, inRange);
      // Central differences with h = 1e-6 of terms up to e^1.5: ~1e-8; the GPU's float32 1e-5.
      expectClose(inRange.map((i) => got.gmu[i]!), inRange.map((i) => fdMu.get(i)!), 1e-5, 1e-5, `${clamp}: gradient of mu vs finite differences`);
      expectClose(inRange.map((i) => got.glv[i]!), inRange.map((i) => fdLv.get(i)!), 1e-5, 1e-5, `${clamp}: gradient of logvar vs finite differences`);
      epsT.dispose();
    }
  });

  it('zeroes the logvar gradient where logvar leaves [-20, 20], as reparameterise does', async () => {
    const mu = ref.arr([0.5, -0.5, 1, 2], [2, 2]);
    const lv = ref.arr([-25, 1, 30, -1], [2, 2]);
    const eps = Tensor.fromData([1, 1, 1, 1], [2, 2]);
    const got = await run(mu, lv, { eps }, ref.arr([1, 1, 1, 1], [2, 2]), null);
    expect(got.glv[0]).toBe(0);
    expect(got.glv[2]).toBe(0);
    expectClose([got.glv[1]!, got.glv[3]!], [0.5 * Math.exp(0.5), 0.5 * Math.exp(-0.5)], 0, 1e-6, 'unclamped');
    eps.dispose();
  });

  it('rejects bad arguments, naming the op, the argument and the shapes', () => {
    const a = Tensor.empty([4, 5]);
    expect(() => ops.sampleLatents(a, Tensor.empty([5, 4]), { seed: 1 })).toThrow(/sampleLatents: mu and logvar differ in shape.*\[4,5\].*\[5,4\]/);
    expect(() => ops.sampleLatents(Tensor.empty([5]), Tensor.empty([5]), { seed: 1 })).toThrow(/sampleLatents: mu must be \[batch, \.\.\.\]/);
    expect(() => ops.sampleLatents(a, a, { seed: 1, passThrough: [2, 6] })).toThrow(/sampleLatents: pass-through range \[2, 6\) is not within \[0, 5\].*\[4,5\]/);
    expect(() => ops.sampleLatents(a, a, { seed: 1, clamp: 'first' })).toThrow(/sampleLatents: invariance and clamp need a passThrough range/);
    expect(() => ops.sampleLatents(a, a, { seed: 1, passThrough: [0, 1], invariance: NaN })).toThrow(/invariance must be finite/);
    expect(() => ops.sampleLatents(a, a, { seed: 1, passThrough: [0, 1], relative: true })).toThrow(/sampleLatents: relative needs an invariance strength/);
    expect(() => ops.sampleLatents(a, a, { seed: 1, passThrough: [0, 1], clamp: 'median' as 'mean' })).toThrow(/sampleLatents: clamp must be 'first' or 'mean', got 'median'/);
    expect(() => ops.sampleLatents(a, a, {})).toThrow(/sampleLatents: give a seed/);
    expect(() => ops.sampleLatents(a, a, { eps: Tensor.empty([20]) })).toThrow(/sampleLatents: eps must have the shape of mu/);
    a.dispose();
  });
});

// The kernel reads mu, logvar and eps whole (one workgroup owns every latent); a code larger than
// one storage binding, 128 MiB on most adapters, is refused rather than split. Last in the file:
// this engine becomes the default.
describe('sampleLatents with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('takes a code that fills one binding exactly, and refuses one sample more by name', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    const [N, D] = [4, 65_536]; // 262144 floats: 1 MiB
    const mu = ref.random([N, D], 41, -1.5, 1.5);
    const lv = ref.random([N, D], 42, -3, 3);
    const eps = ref.random([N, D], 43, -2.5, 2.5);
    const R = ref.random([N, D], 44);
    const r: LatentRefOptions = { range: [10, 60_000], clamp: 'mean', invariance: 0.3 };
    const epsT = Tensor.fromData(eps.data, eps.shape);
    const got = await run(mu, lv, { passThrough: [10, 60_000], clamp: 'mean', invariance: 0.3, eps: epsT }, R, 1);
    const want = latentsRef(mu, lv, eps, r);
    expectClose(got.z, want.z.data, 1e-6, 1e-5, 'z');
    // 262144 float32 terms summed in a tree of 256 partial sums: 1e-5 relative.
    expectClose([got.kl], [want.kl], 0, 1e-5, 'kl');
    const [gmu, glv] = latentsBackwardRef(mu, lv, eps, r, R, 1);
    expectGrad(got.gmu, gmu, 'gradient of mu');
    expectGrad(got.glv, glv, 'gradient of logvar');
    epsT.dispose();
    const big = Tensor.empty([N + 1, D]);
    expect(() => ops.sampleLatents(big, big, { seed: 1 })).toThrow(/sampleLatents: mu has 1310720 bytes, above the 1048576-byte storage binding limit.*\[5,65536\]/);
    big.dispose();
  });
});
