// conv2dPool: the convolution, 2x2 max pooling at stride 2 (and ReLU) in one dispatch, against
// the float64 convolution then pooling, the separate GPU ops, and finite differences.
import { describe, expect, it, vi } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { convTolerance } from './setup/conv-tolerance.js';
import { backward, noGrad, parameter, Tensor, tidy } from '../src/node.js';
import { conv2dPool, conv2dRaw, type Conv2dOptions } from '../src/kernels/conv2d.js';
import { maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import * as ref from './ref/conv.js';
import { maxPool2d as refPool, maxPool2dRelu as refPoolRelu } from './ref/maxpool2d.js';
import { random, type Arr } from './ref/cpu.js';

const ctx = useEngine();

// The tolerance is the convolutions' (test/setup/conv-tolerance.ts): pooling picks one of the
// sums, and finite differences meet it away from ties (random data has none).
interface Case {
  relu: boolean;
  x: number[];
  w: number[];
  o: Conv2dOptions;
  bias?: boolean;
}

// Odd and even conv outputs (the floor mode drops a row and a column), partial pixel blocks,
// one output channel, stride 2, padding, no bias, rows wider than a workgroup.
const cases: Case[] = [
  { x: [2, 3, 9, 9], w: [5, 3, 3, 3], o: { padding: 1 }, relu: true },
  { x: [2, 3, 12, 11], w: [6, 3, 3, 3], o: {}, relu: false },
  { x: [1, 5, 17, 13], w: [1, 5, 5, 5], o: { padding: 2 }, relu: true },
  { x: [2, 4, 15, 15], w: [9, 4, 3, 3], o: { stride: 2, padding: 1 }, relu: true },
  { x: [3, 2, 10, 30], w: [4, 2, 5, 5], o: {}, relu: true, bias: false },
  { x: [1, 1, 40, 150], w: [7, 1, 5, 5], o: {}, relu: true },
  // Above 1e7 multiply-adds: the large register block (8 channels with subgroups, 8 pixels).
  { x: [2, 16, 40, 41], w: [20, 16, 5, 5], o: {}, relu: true },
];

const name = (c: Case) => `x [${c.x}] w [${c.w}] ${JSON.stringify(c.o)}${c.relu ? ' relu' : ''}${c.bias === false ? ' no bias' : ''}`;

function reference(c: Case, [x, w, b]: Arr[]): Arr {
  const y = ref.conv2d(x!, w!, c.bias === false ? null : b!, c.o);
  return (c.relu ? refPoolRelu(y) : refPool(y)).out;
}

describe('conv2dPool: convolution, 2x2 max pooling and ReLU in one dispatch', () => {
  cases.forEach((c, i) =>
    it(name(c), async () => {
      const seed = 300 + 10 * i;
      const ins = [random(c.x, seed), random(c.w, seed + 1, -0.5, 0.5)];
      if (c.bias !== false) ins.push(random([c.w[0]!], seed + 2));
      const g = ref.convGeom(c.x, c.w, c.o);
      const K = Math.max(g.C * g.kh * g.kw, g.N * g.Ho * g.Wo, (g.O * g.kh * g.kw) / (g.s * g.s));
      await gradCheck({
        gpu: ([x, w, b]) => conv2dPool(x!, w!, b ?? null, c.o, { relu: c.relu }),
        cpu: (a) => reference(c, a),
        inputs: ins,
        tol: convTolerance(K),
        fdSamples: 12,
        seed,
      });
      // Bit for bit what the separate convolution and pooling compute.
      const [x, w, b] = ins.map((a) => Tensor.fromData(a.data, a.shape));
      const fused = noGrad(() => conv2dPool(x!, w!, b ?? null, c.o, { relu: c.relu }));
      const apart = noGrad(() => {
        const y = conv2dRaw(x!, w!, b ?? null, c.o);
        const { out } = maxPool2dRaw(y, { relu: c.relu }, false);
        y.dispose();
        return out;
      });
      expect(fused.shape).toEqual(apart.shape);
      expect(Array.from(await fused.data())).toEqual(Array.from(await apart.data()));
      for (const t of [x, w, b, fused, apart]) t?.dispose();
    }),
  );

  it('with the tiled convolution forced: its convolution, then the pooling as a pass of its own', async () => {
    const c = cases[0]!;
    const ins = [random(c.x, 7), random(c.w, 8, -0.5, 0.5), random([c.w[0]!], 9)];
    const [x, w, b] = ins.map((a) => Tensor.fromData(a.data, a.shape));
    const before = ctx.engine.stats.dispatches;
    const y = noGrad(() => conv2dPool(x!, w!, b!, { ...c.o, variant: 'tiled' }, { relu: true }));
    expect(ctx.engine.stats.dispatches - before).toBe(2);
    const g = ref.convGeom(c.x, c.w, c.o);
    expectClose(await y.data(), reference(c, ins).data, convTolerance(g.C * g.kh * g.kw).atol, convTolerance(g.C * g.kh * g.kw).rtol, 'tiled');
    for (const t of [x, w, b, y]) t!.dispose();
  });

  it('with one row a lane (Engine.twoRowConv off, as on SwiftShader): two passes, the same values', async () => {
    // The large case: with two rows allowed its convolution would run row pairs as well.
    const c = cases[cases.length - 1]!;
    const ins = [random(c.x, 17), random(c.w, 18, -0.5, 0.5), random([c.w[0]!], 19)];
    const [x, w, b] = ins.map((a) => Tensor.fromData(a.data, a.shape));
    const fused = noGrad(() => conv2dPool(x!, w!, b!, c.o, { relu: true }));
    ctx.engine.twoRowConv = false;
    const spy = vi.spyOn(ctx.engine, 'kernel');
    try {
      const before = ctx.engine.stats.dispatches;
      const apart = noGrad(() => conv2dPool(x!, w!, b!, c.o, { relu: true }));
      expect(ctx.engine.stats.dispatches - before).toBe(2);
      const conv = spy.mock.calls.map(([spec]) => spec).filter((spec) => spec.defines?.CONV);
      expect(conv.map((spec) => [spec.defines!.PAIRS, spec.defines!.POOL]), 'one row a lane, no fused pooling').toEqual([[false, false]]);
      expect(Array.from(await apart.data())).toEqual(Array.from(await fused.data()));
      apart.dispose();
    } finally {
      spy.mockRestore();
      ctx.engine.twoRowConv = true;
    }
    for (const t of [x, w, b, fused]) t!.dispose();
  });

  it('dispatches once, and names the op and the shapes in errors', () => {
    const x = Tensor.fromData(random([2, 3, 9, 9], 1).data, [2, 3, 9, 9]);
    const w = Tensor.fromData(random([4, 3, 3, 3], 2).data, [4, 3, 3, 3]);
    const before = ctx.engine.stats.dispatches;
    noGrad(() => conv2dPool(x, w, null, { padding: 1 }, { relu: true })).dispose();
    expect(ctx.engine.stats.dispatches - before).toBe(1);
    expect(() => conv2dPool(x, Tensor.empty([4, 3, 9, 9]))).toThrow(/conv2dPool: the 1x1 convolution output is smaller than the 2x2 pooling window/);
    expect(() => conv2dPool(x, w, Tensor.empty([3]))).toThrow(/conv2dPool: bias must have shape \[4\].*bias \[3\]/);
    expect(() => conv2dPool(x, Tensor.empty([4, 2, 3, 3]))).toThrow(/conv2dPool: x has 3 channels but w expects 2/);
  });
});

// Where x needs no gradient (the encoder's first layer reads the images), the weight gradient's
// kernel makes dy from the pooled gradient and the argmax as it loads it, with no pooling pass.
function checkFrozenInput(c: Case, seed: number, fdSamples = 8): Promise<void> {
  const ins = [random(c.x, seed), random(c.w, seed + 1, -0.5, 0.5)];
  if (c.bias !== false) ins.push(random([c.w[0]!], seed + 2));
  const g = ref.convGeom(c.x, c.w, c.o);
  const K = Math.max(g.C * g.kh * g.kw, g.N * g.Ho * g.Wo);
  return gradCheck({
    gpu: ([x, w, b]) => conv2dPool(x!, w!, b ?? null, c.o, { relu: c.relu }),
    cpu: (a) => reference(c, a),
    inputs: ins,
    skip: [0],
    tol: convTolerance(K),
    fdSamples,
    seed,
  });
}

describe('conv2dPool where x needs no gradient: dy made in the weight gradient\'s loads', () => {
  cases.forEach((c, i) => it(name(c), () => checkFrozenInput(c, 600 + 10 * i)));

  it('bit for bit the weight and bias gradients of the pooling pass and the weight-gradient pass', async () => {
    const c = cases[cases.length - 1]!;
    const ins = [random(c.x, 41), random(c.w, 42, -0.5, 0.5), random([c.w[0]!], 43)];
    const R = random([c.x[0]!, c.w[0]!, 18, 18], 44);
    const grads = async (xNeedsGrad: boolean) => {
      const [x, w, b] = ins.map((a) => Tensor.fromData(a.data, a.shape));
      const [xp, wp, bp] = [xNeedsGrad ? parameter(x!) : x!, parameter(w!), parameter(b!)];
      const before = ctx.engine.stats.dispatches;
      tidy(() => backward(conv2dPool(xp, wp, bp, c.o, { relu: true }), Tensor.fromData(R.data, R.shape)));
      const dispatches = ctx.engine.stats.dispatches - before;
      const out = [await wp.grad!.data(), await bp.grad!.data(), dispatches] as const;
      for (const t of [xp, wp, bp, wp.grad, bp.grad, xp.grad]) t?.dispose();
      return out;
    };
    const [dwFused, dbFused, nFused] = await grads(false);
    const [dwApart, dbApart, nApart] = await grads(true);
    expect(Array.from(dwFused)).toEqual(Array.from(dwApart));
    expect(Array.from(dbFused)).toEqual(Array.from(dbApart));
    // The other run adds the pooling pass and the input gradient's passes.
    expect(nFused).toBeLessThan(nApart - 1);
  });

  it('with the tiled convolution forced: the pooling pass, then the tiled weight gradient', () =>
    checkFrozenInput({ ...cases[0]!, o: { ...cases[0]!.o, variant: 'tiled' } }, 701));

  it('with one row a lane (Engine.twoRowConv off): the separate pooling\'s argmax, read by the weight gradient', async () => {
    ctx.engine.twoRowConv = false;
    try {
      await checkFrozenInput(cases[0]!, 711);
      await checkFrozenInput(cases[1]!, 712);
    } finally {
      ctx.engine.twoRowConv = true;
    }
  });
});

describe('conv2dPool where x needs no gradient, with a 1 MiB storage-binding limit', () => {
  useEngine({ maxStorageBufferBindingSize: 1 << 20 });
  // x is 180 KB an image, so the weight gradient runs 5 images and then 2, the second chunk's
  // windows of x and of the pooled gradient [7,6,73,73] starting off the binding alignment.
  it('matches the reference when the images span binding chunks', () =>
    checkFrozenInput({ x: [7, 2, 150, 150], w: [6, 2, 5, 5], o: {}, relu: true }, 801, 2));
});
