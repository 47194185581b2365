import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { backward, ops, parameter, Tensor, tidy } from '../src/node.js';
import { maxPool2dBackward, maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import * as ref from './ref/cpu.js';
import { maxPool2d as refPool, maxPool2dBackward as refPoolGrad, maxPool2dRelu as refPoolRelu, maxPool2dReluBackward as refPoolReluGrad } from './ref/maxpool2d.js';

// Max pooling selects values: the forward and the indices are exact. The gradient sums at most
// ceil(k/s)^2 float32 values per input (one when stride >= kernel), so it is exact or within a
// few ulps of the float64 sum. Finite differences of the float64 reference (h = 1e-6) are exact
// up to ~1e-9 away from ties, which random float32 data makes vanishingly rare.
const TOL = { atol: 1e-7, rtol: 1e-6 };
const FD = { atol: 1e-6, rtol: 1e-5 };

async function checkPool(shape: number[], kernel: number, stride: number, seed: number, fdSamples = 24, relu = false): Promise<void> {
  const x = ref.random(shape, seed);
  const { idx } = refPool(x, kernel, stride);
  const rectified = refPoolRelu(x, kernel, stride).out;
  await gradCheck({
    gpu: ([t]) => ops.maxPool2d(t!, { kernel, stride, relu }),
    cpu: ([a]) => (relu ? refPoolRelu : refPool)(a!, kernel, stride).out,
    analytic: ([a], R) => [relu ? refPoolReluGrad(R, rectified, idx, a!.shape) : refPoolGrad(R, idx, a!.shape)],
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

/**
 * The forward, its indices and the backward without the tape or finite differences (for shapes
 * too large for them). The backward writes into a pooled buffer that held other data: every input
 * element, those no window covers included, must be written (0 where no window chose it). That
 * buffer is the one an op just filled with values in [50, 60) and released, which the pool hands
 * out next.
 */
async function checkRaw(shape: number[], kernel: number, stride: number, seed: number): Promise<void> {
  const x = ref.random(shape, seed);
  const { out: wantOut, idx } = refPool(x, kernel, stride);
  const { out, indices } = maxPool2dRaw(Tensor.fromData(x.data, shape), { kernel, stride });
  // Selection is exact: the pooled values and their indices equal the reference's.
  const gotOut = await out.data();
  const badOut = gotOut.findIndex((v, i) => v !== wantOut.data[i]);
  if (badOut >= 0) expect.fail(`output ${badOut} is ${gotOut[badOut]}, the reference ${wantOut.data[badOut]}`);
  const gotIdx = await indices!.read();
  const badIdx = gotIdx.findIndex((v, i) => v !== idx[i]);
  if (badIdx >= 0) expect.fail(`index ${badIdx} is ${gotIdx[badIdx]}, the reference ${idx[badIdx]}`);
  const R = ref.random(wantOut.shape, seed + 1);
  const want = refPoolGrad(R, idx, shape);
  const grad = Tensor.fromData(R.data, R.shape);
  const garbage = ops.randUniform(shape, 50, 60, seed);
  const stale = garbage.buffer;
  garbage.dispose();
  const gi = maxPool2dBackward(grad, indices!, shape, { kernel, stride });
  expect(gi.buffer, 'the gradient reuses the released buffer').toBe(stale);
  const got = await gi.data();
  expect(want.data.some((v) => v === 0), 'the case has inputs that get no gradient').toBe(true);
  const bad = got.findIndex((v, i) => (want.data[i] === 0 ? v !== 0 : Math.abs(v - want.data[i]!) > TOL.atol + TOL.rtol * Math.abs(want.data[i]!)));
  if (bad >= 0) expect.fail(`gradient element ${bad} is ${got[bad]}, the reference ${want.data[bad]}`);
  for (const t of [out, indices!, grad, gi]) t.dispose();
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

  // Workgroups are 32 x 8 (columns x rows of windows, or of inputs for overlapping windows):
  // these span several in both directions and end in partial ones.
  const multi: [number[], number, number][] = [
    [[2, 3, 37, 75], 2, 2], // odd: the last row and column belong to no window
    [[1, 2, 41, 70], 2, 3], // gaps of one row and column between windows
    [[2, 2, 35, 67], 3, 2], // overlapping windows over 3 x 5 workgroups of inputs
    [[1, 3, 20, 131], 3, 3], // 131 = 43 * 3 + 2 uncovered columns
  ];
  for (const [shape, k, s] of multi) {
    it(`on [${shape}] kernel ${k} stride ${s}, across workgroups`, async () => {
      await checkPool(shape, k, s, shape.reduce((a, b) => a + b, k * 10 + s), 16);
    });
  }

  it('writes every input gradient, uncovered rows and columns as 0, into a reused buffer', async () => {
    await checkRaw([2, 3, 69, 69], 2, 2, 31); // the paper's 69 -> 34
    await checkRaw([1, 2, 37, 75], 2, 2, 32);
    await checkRaw([1, 2, 41, 70], 2, 3, 33);
    await checkRaw([2, 1, 35, 67], 3, 2, 34);
    await checkRaw([1, 3, 20, 131], 3, 3, 35);
  });

  it('with a stride past the window, where the last cell overhangs the plane: its elements inside get their gradients', async () => {
    // 5 x 5 planes, windows of 2 at stride 3: the last window's 3 x 3 cell reaches row and column
    // 5, past the plane (the kernel skips those; a write there would land in the next row or
    // plane). The last window's maximum is each plane's last element.
    const x = ref.map(ref.random([1, 3, 5, 5], 7), (v) => v - 2);
    for (let p = 0; p < 3; p++) x.data[25 * p + 24] = 5;
    const R = ref.random([1, 3, 2, 2], 8);
    const xt = parameter(Tensor.fromData(x.data, x.shape));
    tidy(() => backward(ops.maxPool2d(xt, { kernel: 2, stride: 3 }), Tensor.fromData(R.data, R.shape)));
    const { idx } = refPool(x, 2, 3);
    expectClose(await xt.grad!.data(), refPoolGrad(R, idx, x.shape).data, TOL.atol, TOL.rtol, 'gradient');
    xt.grad!.dispose();
    xt.dispose();
  });

  it('splits dispatches past 65535 workgroups per dimension (planes, rows, columns)', async () => {
    await checkRaw([1, 70001, 3, 3], 2, 2, 41); // planes > 65535
    await checkRaw([1, 1, 524300 * 2 + 1, 2], 2, 2, 42); // window rows > 65535 * 8
    await checkRaw([1, 1, 2, 65535 * 32 * 2 + 101], 2, 2, 43); // window columns > 65535 * 32
    await checkRaw([1, 1, 3, 65535 * 32 + 41], 3, 2, 44); // input columns > 65535 * 32 (overlapping)
  });

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

  // relu(maxPool2d(x)) in one kernel each way, on the ragged and multi-workgroup cases, overlapping
  // windows included: about half of the random windows have a negative maximum, so the gradient
  // is cut at about half of them.
  for (const [shape, k, s] of [...ragged, ...multi]) {
    it(`with relu: forward and gradient on [${shape}] kernel ${k} stride ${s}`, async () => {
      await checkPool(shape, k, s, shape.reduce((a, b) => a + b, k * 10 + s + 1), 16, true);
    });
  }

  it('with relu: a NaN passes through and gets no gradient, a zero maximum gets none either', async () => {
    const x = ref.random([1, 2, 4, 6], 9);
    x.data[0] = NaN;
    for (let i = 6; i < 12; i++) x.data[i] = i < 8 ? 0 : -1; // the window at rows 0-1, columns 0-1 of plane 0 holds NaN
    x.data[24] = 0; x.data[25] = 0; x.data[30] = -2; x.data[31] = -3; // plane 1, first window: maximum 0
    const xt = parameter(Tensor.fromData(x.data, x.shape));
    const R = ref.random([1, 2, 2, 3], 10);
    const y = tidy(() => {
      const o = ops.maxPool2d(xt, { relu: true });
      backward(o, Tensor.fromData(R.data, R.shape));
      return o;
    });
    const want = refPoolRelu(x);
    const got = await y.data();
    expect(Number.isNaN(got[0]!)).toBe(true);
    expect(got[6]).toBe(0);
    expect([...got].slice(1)).toEqual([...want.out.data].slice(1));
    const g = await xt.grad!.data();
    expect(g[0]).toBe(0);
    expect(g[24]).toBe(0);
    expectClose(g, refPoolReluGrad(R, want.out, want.idx, x.shape).data.map((v, i) => (i === 0 ? 0 : v)), TOL.atol, TOL.rtol, 'gradient');
  });

  it('propagates NaN as PyTorch does: a NaN wins its window, in the output and the argmax the gradient follows', async () => {
    const x = ref.random([2, 3, 8, 9], 8);
    for (const at of [0, 13, 100, 101, 431]) x.data[at] = NaN; // 100 and 101 share a window
    const { out: want, idx } = refPool(x, 2, 2);
    const { out, indices } = maxPool2dRaw(Tensor.fromData(x.data, x.shape), { kernel: 2, stride: 2 });
    const got = await out.data();
    expect(got.filter(Number.isNaN).length).toBe(4);
    for (let i = 0; i < got.length; i++) expect(Number.isNaN(got[i]!) ? NaN : got[i], `output ${i}`).toEqual(want.data[i]);
    expect([...(await indices!.read())]).toEqual([...idx]);
    out.dispose();
    indices!.dispose();
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
    // Odd planes of 617 KiB, non-overlapping: the uncovered last row and column in every chunk.
    await checkPool([1, 4, 513, 307], 2, 2, 13, 8);
    await checkPool([1, 4, 513, 307], 2, 2, 16, 8, true);
    await checkPool([1, 3, 523, 301], 3, 2, 17, 8, true);
    await checkRaw([1, 4, 513, 307], 2, 2, 14);
    await checkRaw([3, 5, 101, 99], 2, 3, 15); // 200 KiB planes: five to a chunk
  });

  it('refuses a plane larger than one binding', () => {
    expect(() => ops.maxPool2d(Tensor.empty([1, 1, 600, 600]))).toThrow(/one plane of .* exceeds the 1048576-byte/);
  });
});
