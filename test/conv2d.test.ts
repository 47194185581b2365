import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { convTolerance } from './setup/conv-tolerance.js';
import { backward, initEngine, parameter, setEngine, Tensor, tidy, type Engine } from '../src/node.js';
import {
  conv2d,
  conv2dGradBias,
  conv2dGradInput,
  conv2dGradWeight,
  conv2dGradWeightBias,
  conv2dRaw,
  type Conv2dOptions,
} from '../src/kernels/conv2d.js';
import type { ConvVariant } from '../src/gpu/autotune.js';
import * as ref from './ref/conv.js';
import { random, sampleIndices, size, type Arr } from './ref/cpu.js';

const ctx = useEngine();

// 2e-5 * sqrt(K) absolute plus 1e-5 relative for a sum of K products (test/setup/conv-tolerance.ts says why).
const tolFor = convTolerance;

interface Case {
  x: number[];
  w: number[];
  o: Conv2dOptions;
  bias?: boolean;
}

// Ragged shapes: odd channel counts, spatial sizes that leave partial 8-pixel blocks, output
// channel counts that leave partial 8- and 16-channel blocks, every stride/padding path
// (including a kernel smaller than the stride, where some dx phases get no taps).
const small: Case[] = [
  { x: [2, 3, 9, 9], w: [5, 3, 3, 3], o: { padding: 1 } },
  { x: [2, 5, 13, 11], w: [7, 5, 5, 5], o: { stride: 2, padding: 2 } },
  { x: [1, 7, 17, 17], w: [3, 7, 7, 7], o: { padding: 'same' } },
  { x: [3, 3, 9, 13], w: [1, 3, 1, 1], o: { stride: 2 } },
  { x: [2, 2, 10, 10], w: [4, 2, 4, 4], o: { padding: 'same' } },
  { x: [1, 3, 11, 8], w: [3, 3, 2, 6], o: { padding: 'same' } }, // even and unequal: the odd pixel's side per axis
  { x: [2, 3, 9, 9], w: [5, 3, 2, 2], o: { stride: 3, padding: 1 } },
  { x: [1, 3, 9, 9], w: [5, 3, 3, 3], o: { stride: 2, padding: 3 } }, // padding beyond the kernel
  { x: [1, 5, 17, 13], w: [9, 5, 5, 3], o: { padding: 'valid' } },
  { x: [2, 7, 13, 17], w: [17, 7, 3, 5], o: { stride: 2, padding: 1 } },
  { x: [1, 3, 9, 9], w: [5, 3, 7, 7], o: { padding: 0 }, bias: false },
  { x: [1, 3, 5, 150], w: [3, 3, 3, 5], o: { padding: 1 } }, // several workgroups along a row
  { x: [3, 2, 5, 6], w: [1, 2, 3, 3], o: { padding: 0 } }, // one channel of 4-pixel rows: 4 dy values a step, half a subgroup
  // Padded, but the stride's floor leaves the far edge unread: only the near side's zeros say the
  // forward must not drop its padding select (readsInside).
  { x: [1, 2, 11, 11], w: [3, 2, 3, 3], o: { stride: 4, padding: 1 } },
  // Padding kh - 1: the input gradient's pass reads dy only inside its plane, so it runs without
  // the padding select (readsInside) while the forward keeps it.
  { x: [1, 2, 7, 7], w: [3, 2, 3, 3], o: { padding: 2 } },
];

const caseName = (c: Case) => `x [${c.x}] w [${c.w}] ${JSON.stringify(c.o)}${c.bias === false ? ' no bias' : ''}`;

function inputs(c: Case, seed: number): Arr[] {
  const list = [random(c.x, seed), random(c.w, seed + 1)];
  if (c.bias !== false) list.push(random([c.w[0]!], seed + 2));
  return list;
}

function check(c: Case, seed: number, variant?: ConvVariant): Promise<void> {
  const g = ref.convGeom(c.x, c.w, c.o);
  const K = Math.max(g.C * g.kh * g.kw, (g.O * g.kh * g.kw) / (g.s * g.s), g.N * g.Ho * g.Wo);
  return gradCheck({
    gpu: ([x, w, b]) => conv2d(x!, w!, b ?? null, { ...c.o, variant }),
    cpu: ([x, w, b]) => ref.conv2d(x!, w!, b ?? null, c.o),
    analytic: ([x, w, b], R) => [
      ref.conv2dGradInput(R, w!, x!.shape, c.o),
      ref.conv2dGradWeight(x!, R, w!.shape, c.o),
      ...(b ? [ref.conv2dGradBias(R)] : []),
    ],
    inputs: inputs(c, seed),
    tol: tolFor(K),
    fdSamples: 12,
    seed,
  });
}

// Shapes that leave partial workgroup tiles (64 or fewer output channels x 64 to 256 pixels) in
// the tiled variant: one input channel, 70 output channels (two tile rows, the second with 6),
// and dx of 70 input channels.
const tileEdges: Case[] = [
  { x: [3, 1, 23, 19], w: [70, 1, 5, 5], o: { stride: 2, padding: 2 } },
  { x: [2, 70, 7, 9], w: [3, 70, 3, 3], o: { padding: 'same' } },
  { x: [1, 9, 5, 5], w: [130, 9, 2, 3], o: { padding: 1 } },
];

describe('conv2d: ragged shapes against the float64 reference and finite differences', () => {
  small.forEach((c, i) => it(caseName(c), () => check(c, 10 * i + 1)));

  it('computes only the gradients that are needed', async () => {
    const c = small[1]!; // stride 2: four dx phases
    const [xa, wa, ba] = inputs(c, 5);
    for (const needs of [[true, false, false], [false, true, false], [false, false, true], [true, true, true]]) {
      const ts = [xa!, wa!, ba!].map((a, k) => {
        const t = Tensor.fromData(a.data, a.shape);
        return needs[k] ? parameter(t) : t;
      });
      const before = ctx.engine.stats.dispatches;
      const g = ref.convGeom(c.x, c.w, c.o);
      const seed = [g.N, g.O, g.Ho, g.Wo];
      tidy(() => backward(conv2d(ts[0]!, ts[1]!, ts[2]!, c.o), Tensor.fromData(new Float32Array(size(seed)).fill(1), seed)));
      const dispatched = ctx.engine.stats.dispatches - before;
      ts.forEach((t, k) => expect(t.grad === null, `input ${k} gradient`).toBe(!needs[k]));
      // forward 1; dx one per stride phase (4), dw 1 or 2 (split-K), db 1
      const most = 1 + (needs[0] ? 4 : 0) + (needs[1] ? 2 : 0) + (needs[2] ? 1 : 0);
      expect(dispatched).toBeLessThanOrEqual(most);
      ts.forEach((t) => {
        t.grad?.dispose();
        t.dispose();
      });
    }
  });

  it('gives bit-identical gradients when run twice (no atomics)', async () => {
    const c: Case = { x: [3, 5, 21, 19], w: [6, 5, 3, 3], o: { padding: 1 } };
    const [xa, wa, ba] = inputs(c, 77);
    const run = async () => {
      const [x, w, b] = [xa!, wa!, ba!].map((a) => parameter(Tensor.fromData(a.data, a.shape)));
      tidy(() => backward(conv2d(x!, w!, b!, c.o), Tensor.fromData(random([3, 6, 21, 19], 78).data, [3, 6, 21, 19])));
      const out = [await x!.grad!.data(), await w!.grad!.data(), await b!.grad!.data()];
      for (const t of [x!, w!, b!]) {
        t.grad!.dispose();
        t.dispose();
      }
      return out;
    };
    const a = await run();
    const b = await run();
    a.forEach((g, k) => expect(Buffer.from(g.buffer).equals(Buffer.from(b[k]!.buffer)), `gradient ${k}`).toBe(true));
  });
});

describe('conv2d, tiled variant: ragged shapes against the float64 reference and finite differences', () => {
  [...small, ...tileEdges].forEach((c, i) => it(caseName(c), () => check(c, 10 * i + 1, 'tiled')));
});

// ---- workgroup and block sizes picked from the plane ------------------------------------------

// The GEMM pipelines (forward and dx: CONV, dw: DW) take their workgroup size and register block
// from the shapes: 64 lanes, or one subgroup (8 lanes on lavapipe) where rounding up to 64 would
// leave over 1/16 of them idle; 4-pixel blocks for rows of at most 4 pixels; 4-channel blocks for
// at most 4 output channels. Each case states the variants it runs, checked on the pipelines the
// engine is asked for, and every result is compared with the float64 reference.
interface Variant {
  OB: number;
  PX: number;
  WG: number;
}
// 'wide': 8 channels with subgroups (4 without); 'few': the small workgroup, one subgroup (8 on
// lavapipe, whose subgroups are 8 wide).
type Expected = { OB: number | 'wide'; PX: number; WG: number | 'few' };
interface SizedCase extends Case {
  why: string;
  fwd: Expected;
  dx: Expected;
  dw: Expected;
}

function resolve(engine: Engine, e: Expected): Variant {
  const few = Math.min(64, Math.max(8, engine.device.adapterInfo?.subgroupMaxSize ?? 8));
  return { OB: e.OB === 'wide' ? (engine.features.has('subgroups') ? 8 : 4) : e.OB, PX: e.PX, WG: e.WG === 'few' ? few : e.WG };
}

/** The GEMM variants f asks the engine for, and f's result. */
function variantsOf(engine: Engine, f: () => Tensor): { out: Tensor; used: Variant[] } {
  const spy = vi.spyOn(engine, 'kernel');
  try {
    const out = f();
    const used = spy.mock.calls
      .map(([spec]) => spec)
      .filter((spec) => spec.defines?.GEMM)
      .map((spec) => ({ OB: Number(spec.defines!.OB), PX: Number(spec.defines!.PX), WG: spec.overrides!.WG! }));
    return { out, used };
  } finally {
    spy.mockRestore();
  }
}

async function checkSized(engine: Engine, c: SizedCase, seed: number): Promise<void> {
  const [xa, wa, ba] = inputs(c, seed);
  const [x, w, b] = [xa!, wa!, ba!].map((a) => Tensor.fromData(a.data, a.shape, 'f32', engine));
  const g = ref.convGeom(c.x, c.w, c.o);
  const want = ref.conv2d(xa!, wa!, ba!, c.o);
  const R = random(want.shape, seed + 3);
  const dy = Tensor.fromData(R.data, R.shape, 'f32', engine);
  const runs: [string, Expected, () => Tensor, () => Arr, number][] = [
    ['forward', c.fwd, () => conv2dRaw(x!, w!, b!, c.o), () => want, g.C * g.kh * g.kw],
    ['dx', c.dx, () => conv2dGradInput(dy, w!, c.x, c.o), () => ref.conv2dGradInput(R, wa!, c.x, c.o), (g.O * g.kh * g.kw) / (g.s * g.s)],
    ['dw', c.dw, () => conv2dGradWeight(x!, dy, c.w, c.o), () => ref.conv2dGradWeight(xa!, R, c.w, c.o), g.N * g.Ho * g.Wo],
  ];
  for (const [what, expected, f, cpu, K] of runs) {
    const { out, used } = variantsOf(engine, f);
    expect(used.length, what).toBeGreaterThan(0);
    used.forEach((v) => expect(v, what).toEqual(resolve(engine, expected)));
    expectClose(await out.data(), cpu().data, tolFor(K).atol, tolFor(K).rtol, what);
    out.dispose();
  }
  for (const t of [x, w, b, dy]) t!.dispose();
}

// Each large enough (1e7 multiply-adds) for the large register blocks.
const sized: SizedCase[] = [
  {
    why: '9x11 planes: 108 lanes over 6 images in small workgroups, the last part-filled; dw 126 lanes',
    x: [6, 42, 9, 11], w: [45, 42, 3, 3], o: { padding: 1 },
    fwd: { OB: 'wide', PX: 8, WG: 'few' }, dx: { OB: 'wide', PX: 8, WG: 'few' }, dw: { OB: 'wide', PX: 8, WG: 64 },
  },
  {
    why: 'rows of 3 pixels: 4-pixel blocks, 40 lanes; dw 288 lanes, 4 pixels a step',
    x: [10, 96, 4, 3], w: [100, 96, 3, 3], o: { padding: 1 },
    fwd: { OB: 'wide', PX: 4, WG: 'few' }, dx: { OB: 'wide', PX: 4, WG: 'few' }, dw: { OB: 'wide', PX: 4, WG: 'few' },
  },
  {
    why: '3 output channels: a 4-channel block, 1000 lanes; dw 100 lanes',
    x: [5, 20, 40, 37], w: [3, 20, 5, 5], o: { padding: 2 },
    fwd: { OB: 4, PX: 8, WG: 64 }, dx: { OB: 'wide', PX: 8, WG: 64 }, dw: { OB: 4, PX: 8, WG: 'few' },
  },
  {
    why: "an even kernel: two kernel rows a lane in dw (DW_PAIRS, 16 x 2 lanes), segments of rows that cross images",
    x: [3, 16, 39, 39], w: [12, 16, 4, 4], o: { padding: 'same' },
    fwd: { OB: 'wide', PX: 8, WG: 'few' }, dx: { OB: 'wide', PX: 8, WG: 'few' }, dw: { OB: 'wide', PX: 8, WG: 'few' },
  },
];

describe('conv2d: workgroup and block sizes from the shapes, against the float64 reference', () => {
  sized.forEach((c, i) => it(`${caseName(c)}: ${c.why}`, () => checkSized(ctx.engine, c, 400 + 10 * i)));
});

// ---- the DC-IGN layers ------------------------------------------------------------------------

// The network of the paper's code (init_network2_150): 5x5 encoder convs, each followed by 2x2
// max pooling (150 -> 146 -> 73 -> 69 -> 34 -> 30 -> 15), and a decoder of nearest 2x upsampling
// then a 'valid' 7x7 conv (15 -> 30 -> 24 -> 48 -> 42 -> 84 -> 78 -> 156 -> 150). Batches are
// cut to 1 or 2; each result is compared at an even sample of its elements, the reference being
// computed only there.
const paper: [string, number, number, number, number, number][] = [
  // name, batch, C, O, k, H
  ['encoder conv1 1->96 5x5 on 150x150', 2, 1, 96, 5, 150],
  ['encoder conv2 96->48 5x5 on 73x73', 2, 96, 48, 5, 73],
  ['encoder conv3 48->24 5x5 on 34x34', 2, 48, 24, 5, 34],
  ['decoder conv1 24->48 7x7 on 30x30', 2, 24, 48, 7, 30],
  ['decoder conv2 48->96 7x7 on 48x48', 2, 48, 96, 7, 48],
  ['decoder conv3 96->96 7x7 on 84x84', 1, 96, 96, 7, 84],
  ['decoder conv4 96->1 7x7 on 156x156', 2, 96, 1, 7, 156],
];

// The tiled variant on the layers with the extreme shapes: one input channel (dw: a 25-column GEMM
// with K = N*146*146), and one output channel.
const tiledPaper = new Set([paper[0]![0], paper[6]![0]]);

describe('conv2d: DC-IGN layer shapes, sampled', () => {
  const runs = paper.flatMap((p) => [[p, 'register'] as const, ...(tiledPaper.has(p[0]) ? [[p, 'tiled'] as const] : [])]);
  for (const [[name, N, C, O, k, H], variant] of runs) {
    it(`${name}, ${variant}`, async () => {
      const Ho = H - k + 1;
      const x = random([N, C, H, H], H + C);
      const w = random([O, C, k, k], O + k);
      const b = random([O], 3);
      const dy = random([N, O, Ho, Ho], H + O);
      const [X, W, B, DY] = [x, w, b, dy].map((a) => Tensor.fromData(a.data, a.shape));
      // dw and db from one pass (as training computes them), and db from its own pass.
      const o = { variant };
      const { dw: dwT, db: dbT } = conv2dGradWeightBias(X!, DY!, w.shape, o);
      const outs = [conv2dRaw(X!, W!, B!, o), conv2dGradInput(DY!, W!, x.shape, o), dwT, dbT, conv2dGradBias(DY!)];
      const [y, dx, dw, db, dbAlone] = await Promise.all(outs.map((t) => t.data()));
      const at = (got: Float32Array, idx: number[]) => idx.map((i) => got[i]!);

      const iy = sampleIndices(size([N, O, Ho, Ho]), 1500);
      expectClose(at(y!, iy), ref.conv2dAt(x, w, b, {}, iy), tolFor(C * k * k).atol, tolFor(C * k * k).rtol, 'forward');
      const ix = sampleIndices(x.data.length, 1500);
      expectClose(at(dx!, ix), ref.conv2dGradInputAt(dy, w, x.shape, {}, ix), tolFor(O * k * k).atol, tolFor(O * k * k).rtol, 'dx');
      const iw = sampleIndices(w.data.length, 400);
      expectClose(at(dw!, iw), ref.conv2dGradWeightAt(x, dy, w.shape, {}, iw), tolFor(N * Ho * Ho).atol, tolFor(N * Ho * Ho).rtol, 'dw');
      expectClose(db!, ref.conv2dGradBias(dy).data, tolFor(N * Ho * Ho).atol, tolFor(N * Ho * Ho).rtol, 'db');
      expectClose(dbAlone!, ref.conv2dGradBias(dy).data, tolFor(N * Ho * Ho).atol, tolFor(N * Ho * Ho).rtol, 'db alone');
      for (const t of [X, W, B, DY, ...outs]) t!.dispose();
    });
  }
});

// ---- tensors larger than one storage binding ------------------------------------------------

describe('conv2d: tensors above the storage binding limit (1 MiB engine)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await initEngine({ maxStorageBufferBindingSize: 1 << 20 });
    setEngine(ctx.engine);
  });
  afterAll(() => {
    engine.destroy();
    setEngine(ctx.engine);
  });

  // The first case: images of 270400 bytes of x and 338000 of y (1.35 and 1.69 MB in all), in
  // chunks of 3 + 2 images; the second (few enough multiply-adds for the small register block):
  // images of 202800 bytes of x and dx, in chunks of 5 + 2. Every window after the first starts
  // off the 256-byte alignment, and dw and db add up over the chunks.
  // The third: chunks of one image whose weight-gradient slices (16 a chunk, 12.5 kB each) outgrow
  // the scratch binding together, so each chunk's are summed before the next (the first two sum
  // every chunk's slices once, at the end).
  const cases: Case[] = [
    { x: [5, 16, 65, 65], w: [20, 16, 3, 3], o: { padding: 1 } },
    { x: [7, 3, 130, 130], w: [4, 3, 5, 5], o: { stride: 2, padding: 'valid' } },
    { x: [6, 8, 128, 128], w: [8, 8, 7, 7], o: { padding: 3 } },
  ];
  const variants: ConvVariant[] = ['register', 'tiled'];
  cases.forEach((c, i) => variants.forEach((variant) =>
    it(`${caseName(c)}, ${variant}`, async () => {
      expect(engine.maxBinding).toBe(1 << 20);
      const [xa, wa, ba] = inputs(c, 100 + i);
      const [x, w, b] = [xa!, wa!, ba!].map((a) => parameter(Tensor.fromData(a.data, a.shape, 'f32', engine)));
      const want = ref.conv2d(xa!, wa!, ba!, c.o);
      expect(Math.max(want.data.length, x!.size) * 4).toBeGreaterThan(engine.maxBinding);
      const R = random(want.shape, 200 + i);
      const y = tidy(() => {
        const out = conv2d(x!, w!, b!, { ...c.o, variant });
        backward(out, Tensor.fromData(R.data, R.shape, 'f32', engine));
        return out;
      });
      const K = wa!.shape[1]! * wa!.shape[2]! * wa!.shape[3]!;
      expectClose(await y.data(), want.data, tolFor(K).atol, tolFor(K).rtol, 'forward');
      const g = ref.convGeom(xa!.shape, wa!.shape, c.o);
      const KdX = (g.O * g.kh * g.kw) / (g.s * g.s);
      expectClose(await x!.grad!.data(), ref.conv2dGradInput(R, wa!, xa!.shape, c.o).data, tolFor(KdX).atol, tolFor(KdX).rtol, 'dx');
      const Kdw = g.N * g.Ho * g.Wo;
      expectClose(await w!.grad!.data(), ref.conv2dGradWeight(xa!, R, wa!.shape, c.o).data, tolFor(Kdw).atol, tolFor(Kdw).rtol, 'dw');
      expectClose(await b!.grad!.data(), ref.conv2dGradBias(R).data, tolFor(Kdw).atol, tolFor(Kdw).rtol, 'db');
      for (const t of [x!, w!, b!]) {
        t.grad!.dispose();
        t.dispose();
      }
      y.dispose();
    }),
  ));

  // 24 images of 44800 bytes of x in chunks of 23 + 1, small workgroups and blocks throughout.
  const capped: SizedCase = {
    why: 'small workgroups over chunked images',
    x: [24, 200, 7, 8], w: [6, 200, 1, 3], o: { padding: 'same' },
    fwd: { OB: 4, PX: 4, WG: 'few' }, dx: { OB: 4, PX: 4, WG: 'few' }, dw: { OB: 4, PX: 8, WG: 'few' },
  };
  it(`${caseName(capped)}: ${capped.why}`, async () => {
    expect(size(capped.x) * 4).toBeGreaterThan(engine.maxBinding);
    await checkSized(engine, capped, 500);
  });

  it('throws naming the op when one image exceeds a binding', () => {
    const x = Tensor.fromData(new Float32Array(2 * 300 * 300 * 3), [2, 3, 300, 300], 'f32', engine);
    const w = Tensor.fromData(new Float32Array(4 * 3 * 3 * 3), [4, 3, 3, 3], 'f32', engine);
    expect(() => conv2d(x, w, null)).toThrow(
      'conv2d: one image of y takes 1420864 bytes, above the 1048576-byte storage binding limit (x [2,3,300,300], y [2,4,298,298])',
    );
    x.dispose();
    w.dispose();
  });
});

// ---- small convolutions on the large blocks ------------------------------------------------

// With Engine.quickCompile (SwiftShader's default) small convolutions take the 8-channel x
// 8-pixel blocks of large ones, so the ragged shapes run on blocks much larger than their planes
// and channel counts; with four-lane sharing too, as on SwiftShader.
describe('conv2d: small shapes on the large blocks (Engine.quickCompile, as on SwiftShader)', () => {
  beforeAll(() => {
    expect(ctx.engine.quickCompile).toBe(false);
    ctx.engine.quickCompile = true;
  });
  afterAll(() => {
    ctx.engine.quickCompile = false;
    ctx.engine.sharedLanes = 8;
  });

  it('takes the 8 x 8 blocks for them (4 x 4 without the flag)', () => {
    const blocks = (quick: boolean) => {
      ctx.engine.quickCompile = quick;
      const spy = vi.spyOn(ctx.engine, 'kernel');
      const [x, w] = [Tensor.fromData(new Float32Array(2 * 3 * 9 * 9), [2, 3, 9, 9]), Tensor.fromData(new Float32Array(5 * 27), [5, 3, 3, 3])];
      conv2dRaw(x, w, null, { padding: 1, variant: 'register' }).dispose();
      const d = spy.mock.calls.map(([k]) => k.defines ?? {}).find((d) => d.CONV);
      spy.mockRestore();
      x.dispose();
      w.dispose();
      return `${d?.OB} x ${d?.PX}`;
    };
    expect(blocks(false)).toBe('4 x 4');
    expect(blocks(true)).toBe('8 x 8');
  });
  small.forEach((c, i) => it(caseName(c), () => check(c, 400 + i)));
  it('the same four shapes with loads shared by four lanes', async () => {
    ctx.engine.sharedLanes = 4;
    for (const [i, c] of [small[0]!, small[2]!, small[5]!, small[12]!].entries()) await check(c, 430 + i);
    ctx.engine.sharedLanes = 8;
  });
});

// ---- loads shared by four lanes -------------------------------------------------------------

// SwiftShader's subgroups have 4 lanes, so there the kernels share each load among 4 lanes, not
// 8. Four of lavapipe's 8 lanes run the same code: the lanes past the fourth load values nobody
// reads (every broadcast comes from lanes 0-3).
describe('conv2d: loads shared by four lanes (Engine.sharedLanes 4, as on SwiftShader)', () => {
  beforeAll(() => {
    expect(ctx.engine.sharedLanes).toBe(8);
    ctx.engine.sharedLanes = 4;
  });
  afterAll(() => {
    ctx.engine.sharedLanes = 8;
  });

  [small[0]!, small[3]!, small[6]!, small[12]!].forEach((c, i) => it(caseName(c), () => check(c, 330 + i)));
  [sized[0]!, sized[3]!].forEach((c, i) => it(`${caseName(c)}: ${c.why}`, () => checkSized(ctx.engine, c, 340 + 10 * i)));
});

// ---- without subgroups --------------------------------------------------------------------

describe('conv2d: without the subgroups feature (every lane loads every operand)', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await initEngine({ wantFeatures: [] });
  });
  afterAll(() => {
    engine.destroy();
    setEngine(ctx.engine);
  });

  it('has no subgroups', () => expect(engine.features.has('subgroups')).toBe(false));
  [small[8]!, small[2]!].forEach((c, i) => it(caseName(c), () => check(c, 300 + i)));
  it(`${caseName(sized[1]!)}: 4-channel blocks`, () => checkSized(engine, sized[1]!, 310));
});

// ---- errors ---------------------------------------------------------------------------------

describe('conv2d: errors name the op, the argument and the shapes', () => {
  const t = (shape: number[]) => Tensor.fromData(new Float32Array(size(shape)), shape);

  it('rejects bad ranks, channels, sizes and options', () => {
    const x = t([2, 3, 9, 9]);
    const w = t([4, 3, 3, 3]);
    expect(() => conv2d(t([3, 9, 9]), w)).toThrow('conv2d: x must be 4-D NCHW, got rank 3 (x [3,9,9], w [4,3,3,3])');
    expect(() => conv2d(x, t([4, 3, 3]))).toThrow('conv2d: w must be 4-D [out channels, in channels, kh, kw], got rank 3 (x [2,3,9,9], w [4,3,3])');
    expect(() => conv2d(x, t([4, 2, 3, 3]))).toThrow('conv2d: x has 3 channels but w expects 2 (x [2,3,9,9], w [4,2,3,3])');
    expect(() => conv2d(x, t([4, 3, 13, 13]), null, { padding: 1 })).toThrow(
      'conv2d: the 13x13 kernel is larger than the padded 11x11 input (padding 1) (x [2,3,9,9], w [4,3,13,13])',
    );
    expect(() => conv2d(x, w, null, { stride: 0 })).toThrow('conv2d: stride must be a positive integer, got 0 (x [2,3,9,9], w [4,3,3,3])');
    expect(() => conv2d(x, w, null, { stride: 1.5 })).toThrow('stride must be a positive integer, got 1.5');
    expect(() => conv2d(x, w, null, { padding: -1 })).toThrow(`conv2d: padding must be a non-negative integer, 'valid' or 'same', got -1`);
    expect(() => conv2d(x, w, null, { padding: 'full' as never })).toThrow(`padding must be a non-negative integer, 'valid' or 'same', got "full"`);
    expect(() => conv2d(x, w, null, { stride: 2, padding: 'same' })).toThrow(`conv2d: padding 'same' needs stride 1, got stride 2`);
    expect(() => conv2d(x, w, t([3]))).toThrow('conv2d: bias must have shape [4] (one per output channel) (x [2,3,9,9], w [4,3,3,3], bias [3])');
    expect(() => conv2dGradInput(t([2, 4, 8, 8]), w, [2, 3, 9, 9])).toThrow('conv2d.gradInput: dy must have shape [2,4,7,7] (dy [2,4,8,8])');
    expect(() => conv2dGradWeight(x, t([2, 4, 7, 6]), [4, 3, 3, 3])).toThrow('conv2d.gradWeight: dy must have shape [2,4,7,7] (dy [2,4,7,6])');
    expect(() => conv2dGradBias(t([4, 7, 7]))).toThrow('conv2d.gradBias: dy must be 4-D NCHW (dy [4,7,7])');
  });
});
