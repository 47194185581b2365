import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { ops, Tensor } from '../src/node.js';
import * as ref from './ref/cpu.js';

useEngine();

// Sums of up to ~10^5 float32 terms in [-1, 1] in a tree: error well under 1e-4 absolute.
const TOL = { atol: 1e-4, rtol: 1e-5 };
const FD = { atol: 1e-5, rtol: 1e-4 };

const cases: [number[], number[] | undefined, boolean][] = [
  [[7, 33, 5], undefined, false],
  [[7, 33, 5], [1], false],
  [[7, 33, 5], [0, 2], true],
  [[2, 5, 13, 17], [0, 2, 3], false], // a conv bias gradient's shape
  [[257, 65], [0], false],
  [[4, 5400], [0], false], // a linear bias gradient: the serial path over many workgroups
  [[64, 300], [0], false], // the largest serial sum
  [[65, 3], [0], false], // the smallest tree sum
  [[3, 40000], [1], false], // long rows: the two-pass split
  [[100003], undefined, false],
];

describe('sum and mean', () => {
  for (const [shape, axes, keep] of cases) {
    for (const mean of [false, true]) {
      it(`${mean ? 'mean' : 'sum'} of [${shape}] over ${axes ? `[${axes}]` : 'all'}${keep ? ' keeping dims' : ''}`, async () => {
        const n = axes ? axes.reduce((a, i) => a * shape[i]!, 1) : ref.size(shape);
        const cpu = ([x]: ref.Arr[]) => {
          const s = ref.sum(x!, axes, keep);
          return mean ? ref.map(s, (v) => v / n) : s;
        };
        const big = ref.size(shape) > 50000;
        await gradCheck({
          gpu: ([x]) => (mean ? ops.mean : ops.sum)(x!, axes, keep),
          cpu,
          inputs: [ref.random(shape, shape.length + 3)],
          tol: TOL,
          fdTol: FD,
          fdSamples: big ? 6 : 24,
        });
      });
    }
  }

  it('rejects an axis out of range, naming the op and the shape', () => {
    const x = Tensor.fromData([1, 2, 3, 4], [2, 2]);
    expect(() => ops.sum(x, 2)).toThrow('sum: axis 2 out of range (x [2,2])');
  });
});
