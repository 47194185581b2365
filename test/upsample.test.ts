import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { ops, Tensor } from '../src/node.js';
import * as ref from './ref/cpu.js';
import { upsampleNearest as refUp, upsampleNearestBackward as refUpGrad } from './ref/upsample.js';

// The forward copies float32 values: exact. The gradient sums factor^2 float32 values (up to 16
// here): within a few ulps of the float64 sum. The forward is linear, so central differences of
// the float64 reference are exact to ~1e-9.
const TOL = { atol: 1e-6, rtol: 1e-6 };
const FD = { atol: 1e-6, rtol: 1e-5 };

async function checkUp(shape: number[], f: number, seed: number, fdSamples = 24): Promise<void> {
  await gradCheck({
    gpu: ([t]) => ops.upsampleNearest(t!, f),
    cpu: ([a]) => refUp(a!, f),
    analytic: (_, R) => [refUpGrad(R, f)],
    inputs: [ref.random(shape, seed)],
    tol: TOL,
    fdTol: FD,
    fdSamples,
    seed,
  });
}

describe('upsampleNearest', () => {
  useEngine();

  const ragged: [number[], number][] = [
    [[2, 3, 5, 7], 2],
    [[1, 2, 3, 4], 3],
    [[3, 1, 2, 5], 4],
    [[2, 2, 4, 3], 1],
  ];
  for (const [shape, f] of ragged) {
    it(`forward and gradient on [${shape}] by ${f}`, async () => {
      await checkUp(shape, f, shape.reduce((a, b) => a + b, f));
    });
  }

  it('on the decoder\'s shapes at batch 2 (15 -> 30, 24 -> 48, 42 -> 84, 78 -> 156)', async () => {
    await checkUp([2, 24, 15, 15], 2, 1, 8);
    await checkUp([2, 48, 24, 24], 2, 2, 8);
    await checkUp([2, 96, 42, 42], 2, 3, 8);
    await checkUp([2, 96, 78, 78], 2, 4, 8);
  });

  it('names the op and shape in errors', () => {
    expect(() => ops.upsampleNearest(Tensor.empty([3, 4]))).toThrow(/upsampleNearest: x must be NCHW.*\[3,4\]/);
    expect(() => ops.upsampleNearest(Tensor.empty([1, 1, 2, 2]), 1.5)).toThrow(/factor must be a positive integer/);
  });
});

describe('upsampleNearest with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  it('matches the reference when input and output are split into plane chunks', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    // Output planes of 78 x 78 floats: 43 planes a chunk, 5 chunks at unaligned plane offsets;
    // then planes of 303 x 201 floats: 4 a chunk.
    await checkUp([2, 96, 39, 39], 2, 5, 8);
    await checkUp([1, 5, 101, 67], 3, 6, 8);
  });
});
