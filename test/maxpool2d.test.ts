import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, parameter, Tensor, tidy } from '../src/node.js';
import { maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import * as ref from './ref/cpu.js';
import { maxPool2d as refPool, maxPool2dBackward as refPoolGrad } from './ref/maxpool2d.js';

// Max pooling selects values: the forward and the indices are exact. The gradient sums at most
// ceil(k/s)^2 float32 values per input (one when stride >= kernel), so it is exact or within a
// few ulps of the float64 sum. Finite differences of the float64 reference (h = 1e-6) are exact
// up to ~1e-9 away from ties, which random float32 data makes vanishingly rare.
const TOL = { atol: 1e-7, rtol: 1e-6 };
const FD = { atol: 1e-6, rtol: 1e-5 };

async function checkPool(shape: number[], kernel: number, stride: number, seed: number, fdSamples = 24): Promise<void> {
  const x = ref.random(shape, seed);
  const { idx } = refPool(x, kernel, stride);
  await gradCheck({
    gpu: ([t]) => ops.maxPool2d(t!, { kernel, stride }),
    cpu: ([a]) => refPool(a!, kernel, stride).out,
    analytic: ([a], R) => [refPoolGrad(R, idx, a!.shape)],
    inputs: [x],
    tol: TOL,
    fdTol: FD,
    fdSamples,
    seed,
  });
  const { out, indices } = maxPool2dRaw(Tensor.fromData(x.data, shape), { kernel, stride });
  const got = await indices!.read();
  expect(got.length).toBe(idx.length);
  const bad = got.findIndex((v, i) => v !== idx[i]);
  if (bad >= 0) expect.fail(`index ${bad} is ${got[bad]}, the reference ${idx[bad]}`);
  out.dispose();
  indices!.dispose();
}

describe('maxPool2d', () => {
  useEngine();

  it('floors odd sizes as Torch does', () => {
    const cases: [number, number][] = [[146, 73], [69, 34], [30, 15], [5, 2], [2, 1]];
    for (const [n, want] of cases) {
      const y = ops.maxPool2d(Tensor.empty([1, 1, n, n]));
      expect(y.shape).toEqual([1, 1, want, want]);
    }
    expect(ops.maxPool2d(Tensor.empty([2, 3, 11, 8]), { kernel: 3, stride: 2 }).shape).toEqual([2, 3, 5, 3]);
  });

  const ragged: [number[], number, number][] = [
    [[2, 3, 7, 9], 2, 2],
    [[3, 2, 6, 7], 3, 3],
    [[1, 4, 9, 5], 3, 2], // overlapping windows: an input can win several
    [[2, 1, 8, 8], 2, 1],
    [[1, 2, 5, 6], 4, 3],
    [[2, 2, 3, 4], 1, 1],
  ];
  for (const [shape, k, s] of ragged) {
    it(`forward, indices and gradient on [${shape}] kernel ${k} stride ${s}`, async () => {
      await checkPool(shape, k, s, shape.reduce((a, b) => a + b, k * 10 + s));
    });
  }

  it('on the paper\'s shapes at batch 2 (146 -> 73, 69 -> 34, 30 -> 15)', async () => {
    await checkPool([2, 96, 146, 146], 2, 2, 1, 8);
    await checkPool([2, 48, 69, 69], 2, 2, 2, 8);
    await checkPool([2, 24, 30, 30], 2, 2, 3, 8);
  });

  it('gives ties to the first maximum in the window, row-major (PyTorch)', async () => {
    // Values from {0, 1, 2}: most windows hold ties, many of their maximum.
    const x = ref.map(ref.random([2, 3, 9, 10], 5), (v) => Math.floor((v + 1) * 1.5));
    for (const [k, s] of [[2, 2], [3, 2], [2, 1]] as const) {
      const { out: want, idx } = refPool(x, k, s);
      const R = ref.random(want.shape, 6);
      const xt = parameter(Tensor.fromData(x.data, x.shape));
      const y = tidy(() => {
        const o = ops.maxPool2d(xt, { kernel: k, stride: s });
        backward(o, Tensor.fromData(R.data, R.shape));
        return o;
      });
      expect([...(await y.data())]).toEqual([...want.data]);
      // Overlapping windows sum float32 gradients: exact up to rounding of those sums.
      expectClose(await xt.grad!.data(), refPoolGrad(R, idx, x.shape).data, TOL.atol, TOL.rtol, `gradient, kernel ${k} stride ${s}`);
      // One full window of equal values: only its top-left element gets the gradient.
      const flat = parameter(Tensor.fromData([7, 7, 7, 7], [1, 1, 2, 2]));
      backward(ops.maxPool2d(flat), Tensor.fromData([3], [1, 1, 1, 1]));
      expect([...(await flat.grad!.data())]).toEqual([3, 0, 0, 0]);
    }
  });

  it('keeps no indices when no gradient is recorded', () => {
    const y = ops.maxPool2d(Tensor.fromData(ref.random([1, 1, 4, 4], 1).data, [1, 1, 4, 4]));
    expect(y.node).toBeNull();
  });

  it('names the op and shape in errors', () => {
    expect(() => ops.maxPool2d(Tensor.empty([3, 4, 4]))).toThrow(/maxPool2d: x must be NCHW.*\[3,4,4\]/);
    expect(() => ops.maxPool2d(Tensor.empty([1, 1, 1, 4]))).toThrow(/maxPool2d: spatial size 1x4 is smaller/);
    expect(() => ops.maxPool2d(Tensor.empty([1, 1, 4, 4]), { kernel: 0 })).toThrow(/positive integers/);
  });
});

describe('maxPool2d with a 1 MiB storage-binding limit (split into plane chunks)', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('matches the reference on 2x96x146x146 (16 MiB) and on ragged planes', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    await checkPool([2, 96, 146, 146], 2, 2, 11, 8);
    // 523 x 301 planes of 629 KiB: one plane per chunk, none aligned to 256 bytes.
    await checkPool([1, 3, 523, 301], 3, 2, 12, 8);
  });

  it('refuses a plane larger than one binding', () => {
    expect(() => ops.maxPool2d(Tensor.empty([1, 1, 600, 600]))).toThrow(/one plane of .* exceeds the 1048576-byte/);
  });
});
