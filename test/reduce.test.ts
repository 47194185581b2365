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

// A reduction reads its whole input through one binding: with bindings limited to 1 MiB
// (262144 floats) it takes an input that fills one exactly, sums it in tree and two-pass form,
// and refuses one float more by name. Last in the file: this engine becomes the default.
describe('sum and mean with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });

  const full: [number[], number[] | undefined][] = [
    [[2, 131072], [1]], // two rows of 131072: the two-pass split
    [[512, 512], [0]], // columns: strided reads across the whole binding
    [[262144], undefined],
  ];
  for (const [shape, axes] of full) {
    it(`mean of [${shape}] over ${axes ? `[${axes}]` : 'all'}, the input filling one binding`, async () => {
      expect(ctx.engine.maxBinding).toBe(1 << 20);
      const n = axes ? axes.reduce((a, i) => a * shape[i]!, 1) : ref.size(shape);
      await gradCheck({
        gpu: ([x]) => ops.mean(x!, axes),
        cpu: ([x]) => ref.map(ref.sum(x!, axes), (v) => v / n),
        inputs: [ref.random(shape, 61)],
        tol: TOL,
        fdTol: FD,
        fdSamples: 4,
      });
    });
  }

  it('refuses an input larger than one binding', () => {
    const x = Tensor.fromData(new Float32Array(262145), [5, 52429]);
    expect(() => ops.sum(x, 1)).toThrow('sum: input exceeds one storage binding (x [5,52429])');
    x.dispose();
  });
});
