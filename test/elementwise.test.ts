import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { ops, Tensor } from '../src/node.js';
import { expand } from '../src/kernels/elementwise.js';
import * as ref from './ref/cpu.js';
import { expectClose } from './setup/expect.js';

useEngine();

// float32 transcendental functions on the GPU: a few ulps; 1e-5 relative covers them.
const TOL = { atol: 1e-6, rtol: 1e-5 };
// Central differences of the float64 reference with h = 1e-6: truncation and rounding ~1e-8.
const FD = { atol: 1e-5, rtol: 1e-4 };

const sig = (x: number) => 1 / (1 + Math.exp(-x));
const unary: [string, (t: Tensor) => Tensor, (x: number) => number, [number, number]][] = [
  ['neg', ops.neg, (x) => -x, [-1, 1]],
  ['exp', ops.exp, Math.exp, [-2, 2]],
  ['log', ops.log, Math.log, [0.2, 3]],
  ['relu', ops.relu, (x) => Math.max(x, 0), [-1, 1]],
  ['sigmoid', ops.sigmoid, sig, [-4, 4]],
  ['square', ops.square, (x) => x * x, [-2, 2]],
  ['sqrt', ops.sqrt, Math.sqrt, [0.2, 3]],
  ['tanh', ops.tanh, Math.tanh, [-2, 2]],
  ['mulScalar', (t) => ops.mulScalar(t, -2.5), (x) => x * -2.5, [-1, 1]],
  ['addScalar', (t) => ops.addScalar(t, 0.75), (x) => x + 0.75, [-1, 1]],
  ['powScalar', (t) => ops.powScalar(t, 1.5), (x) => x ** 1.5, [0.2, 2]],
];

describe('unary ops', () => {
  for (const [name, gpu, f, [lo, hi]] of unary) {
    it(`${name}: forward and gradient on a ragged shape`, async () => {
      // relu's kink: keep samples away from 0 so finite differences are valid there.
      const x = ref.random([3, 7, 33], name.length, lo, hi);
      if (name === 'relu') x.data.forEach((v, i) => (x.data[i] = Math.abs(v) < 0.01 ? 0.5 : v));
      await gradCheck({ gpu: ([t]) => gpu(t!), cpu: ([a]) => ref.map(a!, f), inputs: [x], tol: TOL, fdTol: FD });
    });
  }
});

describe('NaN', () => {
  it('relu and sigmoid pass NaN through, as PyTorch does, so a non-finite loss shows it', async () => {
    const x = Tensor.fromData([NaN, -1, 2, -NaN, 0.5, -0], [6]);
    expect([...(await ops.relu(x).data())]).toEqual([NaN, 0, 2, NaN, 0.5, 0]);
    const s = await ops.sigmoid(x).data();
    expect([Number.isNaN(s[0]), Number.isNaN(s[3])]).toEqual([true, true]);
  });
});

const binary: [string, (a: Tensor, b: Tensor) => Tensor, (a: number, b: number) => number][] = [
  ['add', ops.add, (a, b) => a + b],
  ['sub', ops.sub, (a, b) => a - b],
  ['mul', ops.mul, (a, b) => a * b],
  ['div', ops.div, (a, b) => a / b],
];

// Same shapes, bias-like broadcasts (NCHW + [C,1,1], [N,F] + [F]) and broadcasts on both sides.
const shapes: [number[], number[]][] = [
  [[5, 7, 9], [5, 7, 9]],
  [[2, 5, 7, 9], [5, 1, 1]],
  [[65, 33], [33]],
  [[4, 1, 6], [1, 5, 1]],
  [[1], [3, 17]],
];

describe('binary ops with broadcasting', () => {
  for (const [name, gpu, f] of binary) {
    for (const [sa, sb] of shapes) {
      it(`${name} [${sa}] with [${sb}]`, async () => {
        const a = ref.random(sa, 11, -1, 1);
        const b = ref.random(sb, 12, name === 'div' ? 0.5 : -1, name === 'div' ? 2 : 1);
        await gradCheck({
          gpu: ([x, y]) => gpu(x!, y!),
          cpu: ([x, y]) => ref.zip(x!, y!, f),
          analytic: ([x, y], R) => {
            const ga = name === 'add' || name === 'sub' ? R : ref.zip(R, name === 'mul' ? y! : ref.map(y!, (v) => 1 / v), (r, v) => r * v);
            let gb: ref.Arr;
            if (name === 'add') gb = R;
            else if (name === 'sub') gb = ref.map(R, (r) => -r);
            else if (name === 'mul') gb = ref.zip(R, x!, (r, v) => r * v);
            else gb = ref.zip(ref.zip(R, x!, (r, v) => r * v), y!, (rv, w) => -rv / (w * w));
            return [ref.sumTo(ga, x!.shape), ref.sumTo(gb, y!.shape)];
          },
          inputs: [a, b],
          tol: { atol: 1e-5, rtol: 1e-5 },
          fdTol: FD,
        });
      });
    }
  }

  it('names the op and both shapes when shapes do not broadcast', () => {
    const a = Tensor.fromData(new Float32Array(6).fill(1), [2, 3]);
    const b = Tensor.fromData(new Float32Array(4).fill(1), [4]);
    expect(() => ops.add(a, b)).toThrow('add: shapes do not broadcast (a [2,3], b [4])');
  });
});

// With storage bindings limited to 1 MiB (262144 floats), ragged tensors of 1.1 to 1.3 M floats
// run in two chunks: full operands bound chunk by chunk, broadcast operands whole and indexed from
// the chunk's global offset. Last in the file: this engine becomes the default for new tensors.
describe('elementwise ops with a 1 MiB storage-binding limit', () => {
  const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20 });
  const chunked = (shape: number[]) => ref.size(shape) > 262144;

  it('unary forward and gradient across chunks', async () => {
    expect(ctx.engine.maxBinding).toBe(1 << 20);
    const shape = [3, 101, 1033];
    expect(chunked(shape)).toBe(true);
    await gradCheck({ gpu: ([t]) => ops.tanh(t!), cpu: ([a]) => ref.map(a!, Math.tanh), inputs: [ref.random(shape, 31, -2, 2)], tol: TOL, fdTol: FD, fdSamples: 6 });
  });

  it('expand (a reduction\'s gradient) across chunks', async () => {
    const x = ref.random([37, 1, 1], 51, -1, 1);
    const shape = [2, 37, 61, 67];
    const out = expand(Tensor.fromData(x.data, x.shape), shape, 'x * u.p.x', 'expand', [0.5]);
    const want = ref.zip(ref.random(shape, 52), x, (_, v) => v * 0.5);
    expectClose(await out.data(), want.data, 1e-7, 1e-6, 'expand');
    out.dispose();
  });

  // The gradient of a broadcast operand sums over the broadcast axes, which needs the whole
  // gradient in one binding (reduce.ts): only the same-shape case is differentiated here.
  const cases: [string, number[], number[]][] = [
    ['same shape', [5, 61, 997], [5, 61, 997]],
    ['a channel bias', [2, 37, 61, 67], [37, 1, 1]],
    ['a row', [313, 1009], [1009]],
    ['both sides broadcast', [1, 1013], [307, 1]],
  ];
  for (const [what, sa, sb] of cases) {
    it(`mul and sub across chunks: ${what}, [${sa}] with [${sb}]`, async () => {
      const a = ref.random(sa, 41, -1, 1);
      const b = ref.random(sb, 42, -1, 1);
      const [ta, tb] = [Tensor.fromData(a.data, a.shape), Tensor.fromData(b.data, b.shape)];
      for (const [gpu, f] of [[ops.mul, (x: number, y: number) => x * y], [ops.sub, (x: number, y: number) => x - y]] as const) {
        const want = ref.zip(a, b, f);
        expect(chunked(want.shape)).toBe(true);
        const out = gpu(ta, tb);
        expect(out.shape).toEqual(want.shape);
        expectClose(await out.data(), want.data, 1e-6, 1e-6, `${what}: ${gpu.name}`);
        out.dispose();
      }
      [ta, tb].forEach((t) => t.dispose());
      if (what === 'same shape') {
        await gradCheck({ gpu: ([x, y]) => ops.mul(x!, y!), cpu: ([x, y]) => ref.zip(x!, y!, (p, q) => p * q), inputs: [a, b], tol: TOL, fdTol: FD, fdSamples: 6 });
      }
    });
  }
});
