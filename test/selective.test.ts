import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, parameter, Tensor, tidy } from '../src/node.js';
import * as ref from './ref/cpu.js';
import { gradientFilterBackward, relativeInvarianceBackward, relativeInvarianceLoss, selectiveClamp as refClamp, selectiveClampBackward, selectiveClampMean as refClampMean } from './ref/selective.js';

// The clamp copies values and the filter copies or zeroes gradients: exact. Invariance targeting
// computes strength * (z - mean) in float32, the mean a float32 sum over the batch divided by B:
// within a few ulps of |z| times |strength|, so atol 1e-6 |strength|. The relative invariance
// also sums squares over the batch and the latents in float32: atol 1e-5 of its largest value.

/** z.grad after backward(op(z), R), and op(z). */
async function run(z: ref.Arr, R: ref.Arr, op: (t: Tensor) => Tensor): Promise<{ out: Float32Array; grad: Float32Array }> {
  const zt = parameter(Tensor.fromData(z.data, z.shape));
  const out = tidy(() => {
    const o = op(zt);
    backward(o, Tensor.fromData(R.data, R.shape));
    return o;
  });
  const res = { out: await out.data(), grad: await zt.grad!.data() };
  zt.grad!.dispose();
  zt.dispose();
  out.dispose();
  return res;
}

/** Within 1e-5 of the largest magnitude in the float64 reference. */
function expectRelative(got: Float32Array, want: Float64Array, what: string): void {
  const scale = want.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  expectClose(got, want, 1e-5 * scale, 0, what);
}

const f32 = (a: ref.Arr | Float64Array) => [...('data' in a ? a.data : a)].map(Math.fround);

/** Bitwise-equal float32 values (a loop: deep equality of large arrays is slow). */
function expectSame(got: Float32Array, want: ArrayLike<number>, what: string): void {
  expect(got.length, what).toBe(want.length);
  const bad = got.findIndex((v, i) => v !== Math.fround(want[i]!));
  if (bad >= 0) expect.fail(`${what}: element ${bad} is ${got[bad]}, the reference ${want[bad]}`);
}

describe('selectiveClamp and gradientFilter (SelectiveOutputClamp.lua, SelectiveGradientFilter.lua)', () => {
  useEngine();

  it('reproduce the original modules on a hand example', async () => {
    const z = ref.arr([1, 2, 3, 4, 5, 6], [2, 3]);
    const R = ref.arr([10, 20, 30, 40, 50, 60], [2, 3]);
    // Clamp with pass-through latent 1: sample 1 takes sample 0's latents 0 and 2.
    const c = await run(z, R, (t) => ops.selectiveClamp(t, 1, 2));
    expect([...c.out]).toEqual([1, 2, 3, 1, 5, 3]);
    expect([...c.grad]).toEqual([10, 20, 30, 40, 50, 60]); // gradOutput copied, clamped latents too
    // Filter: identity forward; gradient kept only for latent 1.
    const f = await run(z, R, (t) => ops.gradientFilter(t, 1, 2));
    expect([...f.out]).toEqual([1, 2, 3, 4, 5, 6]);
    expect([...f.grad]).toEqual([0, 20, 0, 0, 50, 0]);
    // Invariance targeting, strength 0.5: batch means 2.5, 3.5, 4.5; 0.5 * (z - mean) outside.
    const v = await run(z, R, (t) => ops.gradientFilter(t, 1, 2, { invariance: 0.5 }));
    expect([...v.grad]).toEqual([-0.75, 20, -0.75, 0.75, 50, 0.75]);
    // The mean clamp: sample 0 and 1 both take the batch means 2.5 and 4.5 outside latent 1.
    const m = await run(z, R, (t) => ops.selectiveClamp(t, 1, 2, 'mean'));
    expect([...m.out]).toEqual([2.5, 2, 4.5, 2.5, 5, 4.5]);
    expect([...m.grad]).toEqual([10, 20, 30, 40, 50, 60]);
    // No pass-through (the original's nil): everything zero, or everything invariance-targeted.
    expect([...(await run(z, R, (t) => ops.gradientFilter(t, 0, 0))).grad]).toEqual([0, 0, 0, 0, 0, 0]);
    expect([...(await run(z, R, (t) => ops.gradientFilter(t, 0, 0, { invariance: 0.5 }))).grad]).toEqual([-0.75, -0.75, -0.75, 0.75, 0.75, 0.75]);
  });

  const cases: [number[], number, number][] = [
    [[20, 200], 0, 1], // azimuth batch: z_1 trained
    [[20, 200], 3, 200], // intrinsic batch: z_[4, n] trained
    [[7, 13], 0, 0],
    [[5, 3, 11], 4, 9], // rank 3: latents are the 33 values per sample
    [[1, 9], 2, 5],
    [[6, 10], 0, 10],
  ];
  for (const [shape, s, e] of cases) {
    it(`match the modules on [${shape}] with pass-through [${s}, ${e})`, async () => {
      const z = ref.random(shape, shape[0]! + s, -2, 2);
      const R = ref.random(shape, shape[1]! + e);
      const c = await run(z, R, (t) => ops.selectiveClamp(t, s, e));
      expect([...c.out]).toEqual(f32(refClamp(z, s, e)));
      expect([...c.grad]).toEqual(f32(selectiveClampBackward(R)));
      // The mean is a float32 sum over the batch divided by B: within a few ulps of max |z| = 2.
      const m = await run(z, R, (t) => ops.selectiveClamp(t, s, e, 'mean'));
      expectClose(m.out, refClampMean(z, s, e).data, 2e-6, 0, 'mean clamp');
      expect([...m.grad]).toEqual(f32(selectiveClampBackward(R)));
      const f = await run(z, R, (t) => ops.gradientFilter(t, s, e));
      expect([...f.out]).toEqual(f32(z));
      expect([...f.grad]).toEqual(f32(gradientFilterBackward(R, z, s, e)));
      for (const strength of [0.01, -0.5, 1]) {
        const v = await run(z, R, (t) => ops.gradientFilter(t, s, e, { invariance: strength }));
        expectClose(v.grad, gradientFilterBackward(R, z, s, e, strength).data, 1e-6 * Math.abs(strength), 0, `invariance ${strength}`);
        const r = await run(z, R, (t) => ops.gradientFilter(t, s, e, { invariance: strength, relative: true }));
        expectRelative(r.grad, relativeInvarianceBackward(R, z, s, e, strength).data, `relative invariance ${strength}`);
      }
    });
  }

  it('relative invariance: the derivative of strength / 2 * W / s (finite differences), blind to the code\'s scale', async () => {
    const shape = [8, 23];
    const [s, e] = [0, 3];
    const z = ref.random(shape, 41, -1.5, 1.5);
    const R = ref.random(shape, 42);
    const { grad } = await run(z, R, (t) => ops.gradientFilter(t, s, e, { invariance: 0.7, relative: true }));
    const clamped = ref.sampleIndices(z.data.length, 60).filter((i) => i % shape[1]! >= e);
    const fd = ref.finiteDiff((x) => relativeInvarianceLoss(x, s, e, 0.7), ref.arr(z.data, shape), clamped);
    expectClose(clamped.map((i) => grad[i]!), clamped.map((i) => fd.get(i)!), 1e-5, 1e-4, 'relative invariance vs finite differences');
    // No component along z outside the range: scaling the code does not change the loss.
    let radial = 0;
    let norm = 0;
    for (let i = 0; i < grad.length; i++) {
      if (i % shape[1]! < e) continue;
      radial += grad[i]! * z.data[i]!;
      norm += Math.abs(grad[i]! * z.data[i]!);
    }
    expect(Math.abs(radial) / norm).toBeLessThan(1e-5);
  });

  it('compose as in the original encoder heads (filter, then clamp): the gradient is the pass-through derivative', async () => {
    // Inside the pass-through range both modules are the identity, so their gradient there is
    // the true derivative of the forward: checked by central differences of the reference.
    // Outside it the rules are by definition not derivatives (see src/kernels/selective.ts).
    const shape = [6, 17];
    const [s, e] = [3, 8];
    const z = ref.random(shape, 21, -2, 2);
    const R = ref.random(shape, 22);
    for (const invariance of [undefined, 0.01]) {
      const { out, grad } = await run(z, R, (t) => ops.selectiveClamp(ops.gradientFilter(t, s, e, { invariance }), s, e));
      expect([...out]).toEqual(f32(refClamp(z, s, e)));
      expectClose(grad, gradientFilterBackward(selectiveClampBackward(R), z, s, e, invariance).data, 1e-8, 0, 'composed gradient');
      const through = ref.sampleIndices(z.data.length, 40).filter((i) => i % shape[1]! >= s && i % shape[1]! < e);
      const fd = ref.finiteDiff((x) => ref.dot(refClamp(x, s, e), R), ref.arr(z.data, shape), through);
      expectClose(through.map((i) => grad[i]!), through.map((i) => fd.get(i)!), 1e-6, 1e-5, 'pass-through gradient vs finite differences');
    }
  });

  it('names the op and shapes in errors', () => {
    const z = Tensor.empty([4, 5]);
    expect(() => ops.selectiveClamp(z, 2, 6)).toThrow(/selectiveClamp: pass-through range \[2, 6\) is not within \[0, 5\].*\[4,5\]/);
    expect(() => ops.gradientFilter(z, 3, 2)).toThrow(/gradientFilter: pass-through range/);
    expect(() => ops.selectiveClamp(Tensor.empty([5]), 0, 1)).toThrow(/must be \[batch, \.\.\.\]/);
    expect(() => ops.gradientFilter(z, 0, 1, { invariance: NaN })).toThrow(/invariance must be finite/);
    expect(() => ops.gradientFilter(z, 0, 1, { relative: true })).toThrow(/gradientFilter: relative needs an invariance strength.*\[4,5\]/);
    expect(() => ops.selectiveClamp(z, 0, 1, 'median' as 'mean')).toThrow(/selectiveClamp: from must be 'first' or 'mean', got 'median'.*\[4,5\]/);
  });
});

describe('selectiveClamp and gradientFilter with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('match the modules when z is split into chunks (batch means summed across chunks)', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    const shape = [5, 150_001]; // 3 MB: 3 chunks that cut samples mid-row
    const [s, e] = [1000, 90_000];
    const z = ref.random(shape, 31, -2, 2);
    const R = ref.random(shape, 32);
    const c = await run(z, R, (t) => ops.selectiveClamp(t, s, e));
    expectSame(c.out, refClamp(z, s, e).data, 'clamped across chunks');
    expectSame(c.grad, R.data, 'clamp gradient across chunks');
    const m = await run(z, R, (t) => ops.selectiveClamp(t, s, e, 'mean'));
    expectClose(m.out, refClampMean(z, s, e).data, 2e-6, 0, 'mean clamp across chunks');
    const v = await run(z, R, (t) => ops.gradientFilter(t, s, e, { invariance: 0.25 }));
    expectClose(v.grad, gradientFilterBackward(R, z, s, e, 0.25).data, 0.25e-6, 0, 'invariance across chunks');
    const r = await run(z, R, (t) => ops.gradientFilter(t, s, e, { invariance: 0.25, relative: true }));
    expectRelative(r.grad, relativeInvarianceBackward(R, z, s, e, 0.25).data, 'relative invariance across chunks');
  });
});
