// conv2dPool without a gradient on the forward-only kernel (Engine.pooledConv, SwiftShader's
// default): each way of reaching the weights against the float64 convolution then pooling.
import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { expectClose } from './setup/expect.js';
import { convTolerance } from './setup/conv-tolerance.js';
import { noGrad, parameter, Tensor } from '../src/node.js';
import { conv2dPool, type Conv2dOptions } from '../src/kernels/conv2d.js';
import * as ref from './ref/conv.js';
import { maxPool2d as refPool, maxPool2dRelu as refPoolRelu } from './ref/maxpool2d.js';
import { random } from './ref/cpu.js';

const ctx = useEngine();

interface Case {
  x: number[];
  w: number[];
  o: Conv2dOptions;
  relu: boolean;
  bias?: boolean;
}

// Valid convolutions with subgroups split the channels over a subgroup's lanes; padded ones,
// too many weights a lane, or no subgroups take a lane per block of positions, with few weights
// (constant indices) or many (shared by a subgroup's lanes, or loaded by each): odd and even
// convolution outputs, a last column block moved left, one pooled column, padding, non-square
// kernels, channels that leave lanes or a second group of channels partly empty, batches of
// images. (lavapipe takes about 10 s to compile a body of sixteen 5x5 channels, so the shared
// cases keep theirs small.)
const cases: Case[] = [
  { x: [2, 3, 11, 12], w: [5, 3, 3, 3], o: {}, relu: true },
  { x: [1, 2, 9, 20], w: [17, 2, 2, 4], o: {}, relu: false },
  { x: [3, 1, 8, 7], w: [16, 1, 3, 3], o: {}, relu: true, bias: false },
  { x: [1, 65, 6, 6], w: [4, 65, 5, 5], o: {}, relu: true },
  { x: [2, 1, 13, 11], w: [5, 1, 3, 3], o: {}, relu: true },
  { x: [1, 3, 9, 9], w: [5, 3, 3, 3], o: { padding: 1 }, relu: true },
  { x: [3, 2, 10, 30], w: [4, 2, 2, 4], o: { padding: 1 }, relu: false },
  { x: [1, 2, 6, 4], w: [3, 2, 3, 3], o: {}, relu: true },
  { x: [1, 1, 40, 150], w: [8, 1, 5, 5], o: {}, relu: true },
  { x: [2, 4, 12, 15], w: [17, 4, 2, 2], o: {}, relu: false },
  { x: [1, 5, 17, 13], w: [6, 5, 5, 5], o: { padding: 2 }, relu: true, bias: false },
  { x: [2, 3, 11, 9], w: [7, 3, 3, 5], o: { padding: 'same' }, relu: true },
];

const name = (c: Case) => `x [${c.x}] w [${c.w}] ${JSON.stringify(c.o)}${c.relu ? ' relu' : ''}${c.bias === false ? ' no bias' : ''}`;

/** Runs conv2dPool on case c with Engine.pooledConv on and sharedLanes = lanes; returns the result and the kernels' defines. */
async function run(c: Case, seed: number, lanes: 0 | 4 | 8): Promise<{ got: Float32Array; want: Float64Array | number[]; defines: Record<string, unknown>[]; tol: { atol: number; rtol: number } }> {
  const { engine } = ctx;
  const ins = [random(c.x, seed), random(c.w, seed + 1, -0.5, 0.5), random([c.w[0]!], seed + 2)];
  const [x, w, b] = ins.map((a) => Tensor.fromData(a.data, a.shape));
  const defines: Record<string, unknown>[] = [];
  const kernel = engine.kernel;
  const saved = engine.sharedLanes;
  engine.pooledConv = true;
  engine.sharedLanes = lanes;
  engine.kernel = (spec) => {
    defines.push({ name: spec.name, ...spec.defines });
    return kernel.call(engine, spec);
  };
  let y: Tensor;
  try {
    y = noGrad(() => conv2dPool(x!, w!, c.bias === false ? null : b!, c.o, { relu: c.relu }));
  } finally {
    engine.kernel = kernel;
    engine.pooledConv = false;
    engine.sharedLanes = saved;
  }
  const conv = ref.conv2d(ins[0]!, ins[1]!, c.bias === false ? null : ins[2]!, c.o);
  const want = (c.relu ? refPoolRelu(conv) : refPool(conv)).out;
  expect(y.shape).toEqual(want.shape);
  const got = await y.data();
  for (const t of [x, w, b, y]) t!.dispose();
  const g = ref.convGeom(c.x, c.w, c.o);
  return { got, want: want.data, defines, tol: convTolerance(g.C * g.kh * g.kw) };
}

describe('conv2dPool without a gradient: the forward-only pooled kernel', () => {
  cases.forEach((c, i) =>
    it(name(c), async () => {
      const [O, C, kh, kw] = c.w as [number, number, number, number];
      const valid = Object.keys(c.o).length === 0;
      const few = O <= 16 && O * C * kh * kw <= 256;
      for (const lanes of [8, 4, 0] as const) {
        const kind = lanes && valid && Math.min(4, Math.ceil(O / 4)) * C * kh * kw <= 1600 ? 'channels' : few ? 'const' : lanes ? 'shared' : 'each';
        const r = await run(c, 500 + 10 * i, lanes);
        const got = r.defines.map((d) => [d.name, d.CHANNEL_LANES ? 'channels' : d.WEIGHTS, d.CHANNEL_LANES ? 0 : d.SHARED_LANES]);
        expect(got).toEqual([['conv2d-pooled', kind, kind === 'shared' ? lanes : 0]]);
        expectClose(r.got, r.want, r.tol.atol, r.tol.rtol, `${kind}, ${lanes} lanes`);
      }
    }),
  );

  it('is not taken where a gradient is recorded (the argmax kernel and its rule), nor when off', () => {
    const { engine } = ctx;
    const x = Tensor.fromData(random([1, 2, 9, 9], 1).data, [1, 2, 9, 9]);
    const w = parameter(Tensor.fromData(random([3, 2, 3, 3], 2).data, [3, 2, 3, 3]));
    const names: string[] = [];
    const kernel = engine.kernel;
    engine.kernel = (spec) => {
      names.push(spec.name);
      return kernel.call(engine, spec);
    };
    try {
      engine.pooledConv = true;
      const y = conv2dPool(x, w, null, {}, { relu: true });
      expect(y.requiresGrad).toBe(true);
      engine.pooledConv = false;
      noGrad(() => conv2dPool(x, w, null, {}, { relu: true })).dispose();
      y.dispose();
    } finally {
      engine.kernel = kernel;
      engine.pooledConv = false;
    }
    expect(names).not.toContain('conv2d-pooled');
    for (const t of [x, w]) t.dispose();
  });
});
