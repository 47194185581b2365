import { describe, expect, it, vi } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { backward, ops, parameter, Tensor, tidy } from '../src/node.js';
import { conv2d, type Conv2dPadding } from '../src/kernels/conv2d.js';
import { upsampleNearest } from '../src/kernels/upsample.js';
import { foldUpsample, foldUpsampleWeight, upsampleConv2d, upsampleConv2dStackedGrad, type FoldedLayer } from '../src/kernels/upconv.js';
import { RMSProp } from '../src/train/optim.js';
import type { Activation } from '../src/kernels/elementwise.js';
import * as ref from './ref/conv.js';
import { upsampleNearest as refUp, upsampleNearestBackward as refUpGrad } from './ref/upsample.js';
import { map, random, zip, type Arr } from './ref/cpu.js';

// The reference is the float64 upsample followed by the float64 convolution. The GPU sums
// float32 products of values in [-1, 1]: each folded tap adds up to 4 weights, the convolution
// up to C*K'^2 such products for the forward, and the gradients go through conv2d's kernels
// (dx: 4*O*K^2 terms per input pixel once the 2x2 block is summed; dw and db: N*Ho*Wo of the
// upsampled output). As in test/conv2d.test.ts, rounding grows like sqrt(terms), so the
// tolerance is 2e-5 * sqrt(K) absolute plus 1e-5 relative with K the largest of those counts.
// Central differences of the float64 forward (which is linear in each input) are exact to ~1e-8
// and meet the same tolerance.
const tolFor = (K: number) => ({ atol: 2e-5 * Math.sqrt(K), rtol: 1e-5 });

interface Case {
  x: number[];
  w: number[];
  padding: Conv2dPadding;
  bias?: boolean;
  activation?: Activation;
}

const name = (c: Case) =>
  `x [${c.x}] w [${c.w}] padding ${JSON.stringify(c.padding)}${c.bias === false ? ' no bias' : ''}${c.activation ? `, ${c.activation}` : ''}`;

// The activation in float64 and its derivative at the pre-activation v.
const act = {
  relu: { f: (v: number) => Math.max(v, 0), d: (v: number) => (v > 0 ? 1 : 0) },
  sigmoid: { f: (v: number) => 1 / (1 + Math.exp(-v)), d: (v: number) => Math.exp(-v) / (1 + Math.exp(-v)) ** 2 },
};

function check(c: Case, seed: number, fdSamples = 8): Promise<void> {
  const o = { padding: c.padding };
  const up = [c.x[0]!, c.x[1]!, 2 * c.x[2]!, 2 * c.x[3]!];
  const g = ref.convGeom(up, c.w, o);
  const K = Math.max(g.C * g.kh * g.kw, 4 * g.O * g.kh * g.kw, g.N * g.Ho * g.Wo);
  const inputs: Arr[] = [random(c.x, seed), random(c.w, seed + 1)];
  if (c.bias !== false) inputs.push(random([c.w[0]!], seed + 2));
  const a = c.activation ? act[c.activation] : { f: (v: number) => v, d: () => 1 };
  const pre = ([x, w, b]: Arr[]) => ref.conv2d(refUp(x!, 2), w!, b ?? null, o);
  return gradCheck({
    gpu: ([x, w, b]) => upsampleConv2d(x!, w!, b ?? null, { ...o, activation: c.activation }),
    cpu: (inputs) => map(pre(inputs), a.f),
    analytic: (inputs, R) => {
      const [x, w, b] = inputs;
      const gp = zip(R, pre(inputs), (r, v) => r * a.d(v));
      return [
        refUpGrad(ref.conv2dGradInput(gp, w!, up, o), 2),
        ref.conv2dGradWeight(refUp(x!, 2), gp, w!.shape, o),
        ...(b ? [ref.conv2dGradBias(gp)] : []),
      ];
    },
    inputs,
    tol: tolFor(K),
    fdSamples,
    seed,
  });
}

describe('upsampleConv2d against float64 upsample + conv2d and finite differences', () => {
  useEngine();

  // Ragged sizes: odd channel counts (4*O = 28 stacked channels: partial channel blocks),
  // non-square planes with partial pixel blocks, and every padding parity: K=3 P=1 has folded
  // taps that are zero for some parities, K=5 P=3 an odd padding beyond half the kernel.
  const cases: Case[] = [
    { x: [2, 5, 11, 11], w: [7, 5, 7, 7], padding: 'valid' }, // the paper's decoder: K'=4, P'=0
    { x: [2, 5, 11, 9], w: [7, 5, 5, 5], padding: 'same' }, // small preset: K'=3, P'=1
    { x: [1, 5, 11, 13], w: [7, 5, 3, 3], padding: 1 }, // tiny preset
    { x: [2, 3, 9, 11], w: [7, 3, 5, 5], padding: 0 },
    { x: [1, 3, 7, 6], w: [5, 3, 5, 5], padding: 3 },
    { x: [2, 2, 5, 7], w: [3, 2, 1, 1], padding: 1, bias: false },
    // The decoder's activations in the store, their derivatives in the gradient's unshuffle.
    { x: [2, 5, 11, 9], w: [7, 5, 5, 5], padding: 'same', activation: 'relu' },
    { x: [1, 3, 7, 6], w: [5, 3, 5, 5], padding: 3, activation: 'sigmoid' },
    { x: [2, 2, 5, 7], w: [3, 2, 1, 1], padding: 1, bias: false, activation: 'relu' },
  ];
  cases.forEach((c, i) => it(name(c), () => check(c, 10 * i + 1)));

  // Above conv2d's small-problem threshold (1e7 multiply-adds), so its large register blocks run.
  it('a layer large enough for the large conv2d blocks: x [2,16,19,19] w [20,16,7,7] valid', () =>
    check({ x: [2, 16, 19, 19], w: [20, 16, 7, 7], padding: 'valid' }, 77, 2));

  // The gradient's unshuffle launches one workgroup layer per image and channel: 70 x 1000 planes
  // pass the 65535 a dispatch may have, so it runs in two dispatches (65 images, then 5).
  it('more image x channel planes than one dispatch holds: x [70,1,1,1] w [1000,1,3,3] padding 1, relu', () =>
    check({ x: [70, 1, 1, 1], w: [1000, 1, 3, 3], padding: 1, activation: 'relu' }, 83, 2));

  it('computes only the gradients that are needed', async () => {
    const x = Tensor.fromData(random([1, 3, 6, 6], 1).data, [1, 3, 6, 6]);
    const w = parameter(Tensor.fromData(random([4, 3, 5, 5], 2).data, [4, 3, 5, 5]));
    const b = Tensor.fromData(random([4], 3).data, [4]);
    tidy(() => backward(upsampleConv2d(x, w, b, { padding: 'same' }), Tensor.fromData(random([1, 4, 12, 12], 4).data, [1, 4, 12, 12])));
    expect(w.grad).not.toBeNull();
    expect(x.grad).toBeNull();
    expect(b.grad).toBeNull();
    for (const t of [x, w, w.grad!, b]) t.dispose();
  });

  it('holds less memory than upsample + conv2d: no upsampled map, no stacked output', async () => {
    const x = parameter(Tensor.fromData(random([2, 8, 16, 16], 5).data, [2, 8, 16, 16]));
    const w = parameter(Tensor.fromData(random([8, 8, 5, 5], 6).data, [8, 8, 5, 5]));
    const b = parameter(Tensor.fromData(random([8], 7).data, [8]));
    const pool = x.engine.pool;
    const held = (f: () => Tensor) => {
      const before = pool.stats.inUseBytes;
      const out = f();
      const bytes = pool.stats.inUseBytes - before;
      out.dispose();
      return bytes;
    };
    // Everything the forward leaves alive for the backward, output included: here
    // 4 x weights + 4 x bias + the output, against the output + a map 4x the input.
    const ours = tidy(() => held(() => upsampleConv2d(x, w, b, { padding: 'same' })));
    const theirs = tidy(() => held(() => conv2d(upsampleNearest(x, 2), w, b, { padding: 'same' })));
    const outBytes = 2 * 8 * 32 * 32 * 4;
    expect(ours).toBeLessThan(outBytes + 4 * (w.size + b.size) * 4 + 4096);
    expect(ours).toBeLessThan(theirs - (4 * x.size * 4) / 2);
    for (const t of [x, w, b]) t.dispose();
  });

  it('names the op, the argument and the shapes in errors', () => {
    const x = Tensor.empty([1, 3, 8, 8]);
    const bad = (w: number[], padding: Conv2dPadding = 0, xs = x, bias: Tensor | null = null) => () => upsampleConv2d(xs, Tensor.empty(w), bias, { padding });
    expect(bad([4, 3, 4, 4])).toThrow(/upsampleConv2d: the kernel side must be odd, got 4 \(w \[4,3,4,4\]\)/);
    expect(bad([4, 3, 3, 5])).toThrow(/upsampleConv2d: the kernel must be square, got 3x5 \(w \[4,3,3,5\]\)/);
    expect(bad([4, 3, 3, 3], -1)).toThrow(/upsampleConv2d: padding must be a non-negative integer.*got -1/);
    expect(bad([4, 3, 3, 3], 1.5)).toThrow(/upsampleConv2d: padding must be a non-negative integer.*got 1.5/);
    expect(bad([4, 2, 3, 3])).toThrow(/upsampleConv2d: x has 3 channels but w expects 2 \(x \[1,3,8,8\], w \[4,2,3,3\]\)/);
    expect(bad([4, 3, 3, 3], 0, Tensor.empty([3, 8, 8]))).toThrow(/upsampleConv2d: x must be 4-D NCHW.*x \[3,8,8\]/);
    expect(bad([4, 3, 19, 19], 0)).toThrow(/upsampleConv2d: the 19x19 kernel is larger than the padded 16x16 upsampled input/);
    expect(bad([4, 3, 3, 3], 0, x, Tensor.empty([5]))).toThrow(/upsampleConv2d: bias must have shape \[4\].*bias \[5\]/);
    expect(() => foldUpsampleWeight(Tensor.empty([4, 3, 3]))).toThrow(/foldUpsampleWeight: w must be 4-D.*w \[4,3,3\]/);
    expect(() => upsampleConv2d(x, Tensor.empty([4, 3, 3, 3]), null, { activation: 'tanh' as Activation })).toThrow(/upsampleConv2d: activation must be 'relu' or 'sigmoid', got "tanh"/);
    // The gradient's unshuffle reads the activation's derivative from the layer's output.
    const g = Tensor.empty([1, 4, 8, 8]);
    expect(() => upsampleConv2dStackedGrad(g, 1, 4, 4, 4, null, 'relu')).toThrow(/upsampleConv2d.grad: the relu layer's output is needed for its derivative.*g \[1,4,8,8\]/);
  });
});

describe('foldUpsample: several layers folded in one dispatch, their gradients back in one more', () => {
  const ctx = useEngine();

  it('equals each layer folded alone, in one dispatch for tensors packed in one buffer (a run of 8 per dispatch)', async () => {
    // Shapes, kernels and paddings that differ row to row of the table; 5 weights and 5 biases.
    const specs: [number[], Conv2dPadding][] = [[[5, 3, 7, 7], 0], [[2, 4, 3, 3], 'same'], [[6, 1, 5, 5], 2], [[1, 6, 7, 7], 1], [[3, 2, 1, 1], 0]];
    const layers = specs.map(([shape, padding], k) => ({
      w: Tensor.fromData(random(shape, 40 + k).data, shape),
      bias: Tensor.fromData(random([shape[0]!], 50 + k).data, [shape[0]!]),
      padding,
    }));
    const alone = await Promise.all(layers.map((l) => foldUpsampleWeight(l.w, l.padding).data()));
    const check = async (folded: { w: Tensor; bias: Tensor | null }[], what: string) => {
      for (let k = 0; k < layers.length; k++) {
        expect(Array.from(await folded[k]!.w.data()), `${what} w ${k}`).toEqual(Array.from(alone[k]!));
        const b = Array.from(await layers[k]!.bias.data());
        expect(Array.from(await folded[k]!.bias!.data()), `${what} bias ${k}: tiled over the parities`).toEqual([...b, ...b, ...b, ...b]);
      }
    };
    await check(foldUpsample(layers), 'unpacked');
    const { flat } = Tensor.pack(layers.flatMap((l) => [l.w, l.bias]));
    const before = ctx.engine.stats.dispatches;
    const packed = foldUpsample(layers);
    expect(ctx.engine.stats.dispatches - before, '10 packed tensors: runs of 8 and 2').toBe(2);
    await check(packed, 'packed');
    // upsampleConv2d with the folded tensors given computes what it does folding its own.
    const x = Tensor.fromData(random([2, 3, 6, 6], 60).data, [2, 3, 6, 6]);
    const own = await upsampleConv2d(x, layers[0]!.w, layers[0]!.bias).data();
    expect(Array.from(await upsampleConv2d(x, layers[0]!.w, layers[0]!.bias, { folded: packed[0] }).data())).toEqual(Array.from(own));
    expect(() => upsampleConv2d(x, layers[0]!.w, layers[0]!.bias, { folded: packed[1] })).toThrow(/upsampleConv2d: folded must hold w folded \[20,3,4,4\] and the bias tiled \[20\].*folded w \[8,4,3,3\]/);
    flat.dispose();
  });

  it('folds two layers\' gradients back in one dispatch, equal to each layer on its own', async () => {
    const make = () => [[6, 4, 5, 5], [3, 6, 3, 3]].flatMap((shape, k) => [
      parameter(Tensor.fromData(random(shape, 70 + k).data, shape)),
      parameter(Tensor.fromData(random([shape[0]!], 80 + k).data, [shape[0]!])),
    ]);
    const x = Tensor.fromData(random([2, 4, 5, 5], 90).data, [2, 4, 5, 5]);
    const net = (p: Tensor[], folded?: FoldedLayer[]) =>
      upsampleConv2d(upsampleConv2d(x, p[0]!, p[1]!, { padding: 'same', activation: 'relu', folded: folded?.[0] }), p[2]!, p[3]!, { padding: 1, folded: folded?.[1] });
    const apart = make();
    backward(ops.sum(net(apart)));
    // Packed as an optimizer packs them, folded together: the gradients land in its slots.
    const opt = new RMSProp(make());
    const p = opt.params as Tensor[];
    const spy = vi.spyOn(ctx.engine, 'dispatch');
    try {
      tidy(() => backward(ops.sum(net(p, foldUpsample([{ w: p[0]!, bias: p[1]!, padding: 'same' }, { w: p[2]!, bias: p[3]!, padding: 1 }])))));
      const folds = spy.mock.calls.filter(([k]) => k.name === 'upconv' && k.key.includes('"FOLD",true'));
      expect(folds.map(([k]) => k.key.includes('"BACKWARD",true')), 'one fold forward, one back').toEqual([false, true]);
    } finally {
      spy.mockRestore();
    }
    for (let k = 0; k < 4; k++) {
      expect(p[k]!.grad!.aliases(opt.gradSlots[k]!), `gradient ${k} in its slot`).toBe(true);
      expect(Array.from(await p[k]!.grad!.data()), `gradient ${k}`).toEqual(Array.from(await apart[k]!.grad!.data()));
    }
  });
});

for (const convVariant of ['register', 'tiled'] as const) {
  describe(`upsampleConv2d with a 1 MiB storage-binding limit, ${convVariant} convolutions`, () => {
    const ctx = useEngine({ maxStorageBufferBindingSize: 1 << 20, convVariant });

    it('matches the reference when the stacked and shuffled outputs exceed one binding', async () => {
      expect(ctx.engine.maxBinding).toBe(1 << 20);
      // Stacked output [5,60,39,39] and result [5,15,78,78]: 1.8 MB each, 365040 bytes an image,
      // so 2 images a chunk in 3 chunks, at byte offsets that are not 256-aligned.
      await check({ x: [5, 4, 39, 39], w: [15, 4, 3, 3], padding: 1, activation: 'relu' }, 91, 2);
    });
  });
}

// The tiled convolutions under the fold: the shuffled store, the activations and ragged tiles
// (4*7 = 28 stacked channels; the decoder's last layer, 4 stacked channels). Two cases: on
// lavapipe each costs tens of seconds of pipeline compilation.
describe('upsampleConv2d with the tiled convolution variant', () => {
  useEngine({ convVariant: 'tiled' });
  const cases: Case[] = [
    { x: [2, 5, 11, 9], w: [7, 5, 5, 5], padding: 'same', activation: 'relu' },
    { x: [1, 3, 7, 6], w: [1, 3, 5, 5], padding: 3, activation: 'sigmoid' },
  ];
  cases.forEach((c, i) => it(name(c), () => check(c, 10 * i + 501)));
});
