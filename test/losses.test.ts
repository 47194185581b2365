import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, parameter, Tensor } from '../src/node.js';
import * as ref from './ref/cpu.js';
import { bceLoss as refBce, bceLossGrad as refBceGrad, klLoss as refKl, klLossGrad as refKlGrad } from './ref/losses.js';

// The losses sum up to 6e5 float32 terms (each a few ulps from float32 log/exp) through per-thread
// runs of 16, 256-wide trees and reduce.wgsl's tree: relative error ~1e-6, so 2e-5 relative.
// The gradients are elementwise float32 expressions, a few ulps: the same tolerance covers them.
const LOSS_TOL = { atol: 1e-5, rtol: 2e-5 };
// Central differences (h = 1e-6) of a float64 sum of up to 45000 terms of size ~1: rounding
// ~1e-16 * 4e4 / 1e-6 = 4e-6 absolute.
const FD = { atol: 2e-5, rtol: 1e-4 };
const scalar = (v: number): ref.Arr => ({ data: Float64Array.of(v), shape: [] });
const binary = (a: ref.Arr) => ref.map(a, (v) => (v > 0.5 ? 1 : 0));

async function checkBce(shape: number[], seed: number, hard: boolean, fdSamples = 24, fdTol = FD): Promise<void> {
  const pred = ref.random(shape, seed, 0.02, 0.98);
  const target = hard ? binary(ref.random(shape, seed + 1, 0, 1)) : ref.random(shape, seed + 1, 0, 1);
  await gradCheck({
    gpu: ([p, t]) => ops.bceLoss(p!, t!),
    cpu: ([p, t]) => scalar(refBce(p!, t!)),
    analytic: ([p, t], R) => [refBceGrad(p!, t!, R.data[0]!)],
    inputs: [pred, target],
    skip: [1],
    tol: LOSS_TOL,
    fdTol,
    fdSamples,
    seed,
  });
}

async function checkKl(shape: number[], seed: number, fdSamples = 24, fdTol = FD): Promise<void> {
  await gradCheck({
    gpu: ([m, l]) => ops.klLoss(m!, l!),
    cpu: ([m, l]) => scalar(refKl(m!, l!)),
    analytic: ([m, l], R) => refKlGrad(m!, l!, R.data[0]!),
    inputs: [ref.random(shape, seed, -2, 2), ref.random(shape, seed + 1, -3, 3)],
    tol: LOSS_TOL,
    fdTol,
    fdSamples,
    seed,
  });
}

describe('bceLoss', () => {
  useEngine();

  it('forward (a scalar, shape []) and gradient on ragged shapes, soft and binary targets', async () => {
    await checkBce([3, 1, 37, 41], 1, false);
    await checkBce([5, 7], 3, true);
    await checkBce([1], 5, false);
  });

  it('on the decoder output at batch 2 (2x1x150x150)', async () => {
    await checkBce([2, 1, 150, 150], 7, false, 8);
  });

  it('sums over the batch rather than averaging (sizeAverage = false)', async () => {
    const p = ref.random([2, 50], 9, 0.1, 0.9);
    const t = ref.random([2, 50], 10, 0, 1);
    const both = await ops.bceLoss(Tensor.fromData(p.data, [2, 50]), Tensor.fromData(t.data, [2, 50])).data();
    const first = await ops.bceLoss(Tensor.fromData(p.data.slice(0, 50), [1, 50]), Tensor.fromData(t.data.slice(0, 50), [1, 50])).data();
    const second = await ops.bceLoss(Tensor.fromData(p.data.slice(50), [1, 50]), Tensor.fromData(t.data.slice(50), [1, 50])).data();
    expectClose(both, [first[0]! + second[0]!], 1e-5, 1e-6, 'batch of 2 vs the sum of two batches of 1');
  });

  it('clamps probabilities to [1e-7, 1 - 1e-7] and keeps the gradient at the clamped value', async () => {
    const pv = [0, 1e-9, 1, 1 - 1e-9, 0.5, 1e-3];
    const tv = [1, 0, 0, 1, 0.25, 1];
    const p = parameter(Tensor.fromData(pv, [6]));
    const loss = ops.bceLoss(p, Tensor.fromData(tv, [6]));
    const want = refBce(ref.arr(pv.map(Math.fround), [6]), ref.arr(tv, [6]));
    expectClose(await loss.data(), [want], LOSS_TOL.atol, LOSS_TOL.rtol, 'clamped loss');
    expect(Number.isFinite(want)).toBe(true);
    backward(loss);
    const g = await p.grad!.data();
    expectClose(g, refBceGrad(ref.arr(pv.map(Math.fround), [6]), ref.arr(tv, [6])).data, 0, 1e-5, 'gradient at clamped probabilities');
    expect(g.every(Number.isFinite)).toBe(true);
  });

  it('names the op and shapes in errors', () => {
    expect(() => ops.bceLoss(Tensor.empty([2, 3]), Tensor.empty([3, 2]))).toThrow(/bceLoss: pred and target differ in shape.*\[2,3\].*\[3,2\]/);
    expect(() => ops.bceLoss(Tensor.empty([2]), Tensor.empty([2]), { eps: 0 })).toThrow(/eps must lie in/);
  });
});

describe('klLoss', () => {
  useEngine();

  it('forward (a scalar, shape []) and gradients to mu and logvar on ragged shapes', async () => {
    await checkKl([5, 37], 11);
    await checkKl([20, 200], 13);
    await checkKl([1, 1], 15);
  });

  it('is 0 at the prior and matches a hand value', async () => {
    expect([...(await ops.klLoss(ops.zeros([4, 3]), ops.zeros([4, 3])).data())]).toEqual([0]);
    // 0.5 * ((1 + e^0 - 1 - 0) + (4 + e^1 - 1 - 1)) = 0.5 * (3 + e)
    expectClose(await ops.klLoss(Tensor.fromData([1, 2], [1, 2]), Tensor.fromData([0, 1], [1, 2])).data(), [0.5 * (3 + Math.E)], 0, 1e-6, 'hand value');
  });

  it('names the op and shapes in errors', () => {
    expect(() => ops.klLoss(Tensor.empty([2, 3]), Tensor.empty([6]))).toThrow(/klLoss: mu and logvar differ in shape/);
  });
});

describe('losses with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('sum partial sums across chunks', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    // 2.4 MB a tensor: 3 chunks. Sums of 6e5 terms reach 1e6, so central differences of the
    // float64 reference round to ~1e-16 * 1e6 / 1e-6 = 1e-4: a looser finite-difference check.
    const fd = { atol: 5e-4, rtol: 1e-4 };
    await checkBce([3, 1, 400, 500], 17, true, 8, fd);
    await checkKl([3, 200_001], 19, 8, fd);
  });
});
