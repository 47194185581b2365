import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { expectClose } from './setup/expect.js';
import { ops, Tensor } from '../src/node.js';
import { linear, matmulRaw, splitK } from '../src/kernels/matmul.js';
import * as ref from './ref/cpu.js';

const ctx = useEngine();

// float32 dot products of length K with terms in [-1, 1]: error grows like sqrt(K) ulps of the
// partial sums; 2e-4 absolute + 1e-4 relative holds to K = 300 with margin.
const TOL = { atol: 2e-4, rtol: 1e-4 };
const FD = { atol: 2e-4, rtol: 1e-4 };

function analytic(transA: boolean, transB: boolean) {
  // With Â = op(A): dÂ = R B̂ᵀ, dB̂ = Âᵀ R, transposed back for a transposed store.
  return ([a, b]: ref.Arr[], R: ref.Arr): ref.Arr[] => {
    // A gradient computed per batch item sums over the batch where the operand was broadcast.
    const fold = (g: ref.Arr, x: ref.Arr) => (g.data.length === x.data.length ? g : ref.sumTo(g, x.shape.length === 3 ? x.shape : [1, ...x.shape]));
    const ga = transA ? ref.matmul(b!, R, transB, true) : ref.matmul(R, b!, false, !transB);
    const gb = transB ? ref.matmul(R, a!, true, transA) : ref.matmul(a!, R, !transA, false);
    return [fold(ga, a!), fold(gb, b!)];
  };
}

const shape = (rows: number, cols: number, trans: boolean, batch?: number) => {
  const s = trans ? [cols, rows] : [rows, cols];
  return batch ? [batch, ...s] : s;
};

// [M, K, N]: every dimension takes 1, 7, 33, 65 and 257 somewhere, with ragged tile edges.
const sizes: [number, number, number][] = [
  [1, 1, 1],
  [7, 33, 65],
  [33, 65, 17],
  [65, 7, 1],
  [1, 257, 7],
  [257, 129, 300],
  [64, 128, 32], // aligned: every vec4 path
];

describe('matmul', () => {
  for (const [M, K, N] of sizes) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${M}x${K}x${N} transA=${transA} transB=${transB}`, async () => {
        const big = M * K * N > 1e6;
        await gradCheck({
          gpu: ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
          cpu: ([a, b]) => ref.matmul(a!, b!, transA, transB),
          analytic: analytic(transA, transB),
          inputs: [ref.random(shape(M, K, transA), M + K), ref.random(shape(K, N, transB), K + N)],
          tol: TOL,
          fdTol: FD,
          fdSamples: big ? 4 : 16,
        });
      });
    }
  }

  it('batched, with a batch-1 operand broadcast', async () => {
    for (const [ba, bb] of [[3, 3], [1, 4], [5, 1]]) {
      await gradCheck({
        gpu: ([a, b]) => ops.matmul(a!, b!),
        cpu: ([a, b]) => ref.matmul(a!, b!),
        analytic: analytic(false, false),
        inputs: [ref.random([ba!, 9, 13], 3), ref.random(bb === 1 ? [13, 6] : [bb!, 13, 6], 4)],
        tol: TOL,
        fdTol: FD,
      });
    }
  });

  it('throws naming the op and both shapes on mismatched inner dimensions', () => {
    const a = Tensor.fromData(new Float32Array(12).fill(1), [3, 4]);
    const b = Tensor.fromData(new Float32Array(30).fill(1), [5, 6]);
    expect(() => ops.matmul(a, b)).toThrow('matmul: inner dimensions differ: 4 vs 5 (a [3,4], b [5,6])');
  });
});

// Split-K: few outputs, long K (the products' K slices summed by a second dispatch). The sums
// run to K = 2051, so the tolerance is scaled by sqrt(2051 / 300) from TOL's.
const SPLIT_TOL = { atol: 6e-4, rtol: 1e-4 };

/** op(A) op(B) of [M, K] by [K, N] and both gradients against float64, to SPLIT_TOL. */
const checkProduct = (M: number, K: number, N: number, transA: boolean, transB: boolean) =>
  gradCheck({
    gpu: ([a, b]) => ops.matmul(a!, b!, { transA, transB }),
    cpu: ([a, b]) => ref.matmul(a!, b!, transA, transB),
    analytic: analytic(transA, transB),
    inputs: [ref.random(shape(M, K, transA), M + K), ref.random(shape(K, N, transB), K + N)],
    tol: SPLIT_TOL,
    fdSamples: 6,
  });

describe('matmul split over K', () => {
  // [M, K, N]: 4 slices, 8 (N = 63, a ragged scalar store) and 4, K % 4 tails.
  const cases: [number, number, number][] = [
    [3, 1030, 5],
    [2, 2051, 63],
    [7, 1024, 8],
  ];
  for (const [M, K, N] of cases) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${M}x${K}x${N} transA=${transA} transB=${transB}`, async () => {
        expect(splitK(K, Math.ceil(N / 64) * Math.ceil(M / 32))).toBeGreaterThan(1);
        expect(splitK(K, 2)).toBe(1);
        await checkProduct(M, K, N, transA, transB);
      });
    }
  }

  it('adds into C, then the bias and the activation, after the slices (two dispatches)', async () => {
    const [M, K, N] = [3, 1030, 6];
    const a = ref.random([M, K], 1);
    const b = ref.random([K, N], 2);
    const c0 = ref.random([M, N], 3);
    const bias = ref.random([N], 4);
    const into = Tensor.fromData(c0.data, c0.shape);
    const before = ctx.engine.stats.dispatches;
    matmulRaw(Tensor.fromData(a.data, a.shape), Tensor.fromData(b.data, b.shape), { accumulate: true, bias: Tensor.fromData(bias.data, bias.shape), activation: 'relu', alpha: 0.5 }, into);
    expect(ctx.engine.stats.dispatches - before).toBe(2);
    const want = ref.map(ref.zip(ref.zip(ref.map(ref.matmul(a, b), (v) => 0.5 * v), c0, (x, y) => x + y), bias, (x, y) => x + y), (v) => Math.max(v, 0));
    expectClose(await into.data(), want.data, SPLIT_TOL.atol, SPLIT_TOL.rtol, 'accumulate + bias + relu');
  });
});

// The few-rows kernel (Engine.fewRowMatmul, SwiftShader's default): a lane per four columns and
// K slice, 1 to 4 rows, with and without a split, every transpose, N of every remainder by 4 and
// past a workgroup's 256 columns.
describe('matmul: few rows (a lane per four columns, as on SwiftShader)', () => {
  /** Runs f with the few-rows kernel on; returns how many dispatches used it. */
  async function withFewRows(f: () => Promise<void>): Promise<number> {
    const { engine } = ctx;
    const dispatch = engine.dispatch;
    let used = 0;
    engine.fewRowMatmul = true;
    engine.dispatch = (kernel, args) => {
      if (kernel.key.includes('["FEW_ROWS",true]')) used++;
      dispatch.call(engine, kernel, args);
    };
    try {
      await f();
    } finally {
      engine.dispatch = dispatch;
      engine.fewRowMatmul = false;
    }
    return used;
  }
  // [M, K, N]: one slice and several (K = 1030, 2051).
  const cases: [number, number, number][] = [
    [1, 1, 1],
    [2, 33, 65],
    [3, 1030, 5],
    [4, 2051, 63],
    [1, 300, 130],
    [3, 17, 8],
    [2, 40, 261],
  ];
  for (const [M, K, N] of cases) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      it(`${M}x${K}x${N} transA=${transA} transB=${transB}`, async () => {
        const used = await withFewRows(() => checkProduct(M, K, N, transA, transB));
        expect(used).toBeGreaterThan(0);
      });
    }
  }

  it('adds into C, then the bias and the activation, with and without a split', async () => {
    for (const [M, K, N] of [[1, 1030, 6], [3, 40, 70]] as const) {
      const a = ref.random([M, K], 1);
      const b = ref.random([N, K], 2);
      const c0 = ref.random([M, N], 3);
      const bias = ref.random([N], 4);
      const into = Tensor.fromData(c0.data, c0.shape);
      const used = await withFewRows(async () => {
        matmulRaw(Tensor.fromData(a.data, a.shape), Tensor.fromData(b.data, b.shape), { transB: true, accumulate: true, bias: Tensor.fromData(bias.data, bias.shape), activation: 'relu', alpha: 0.5 }, into);
      });
      expect(used).toBe(1);
      const want = ref.map(ref.zip(ref.zip(ref.map(ref.matmul(a, b, false, true), (v) => 0.5 * v), c0, (x, y) => x + y), bias, (x, y) => x + y), (v) => Math.max(v, 0));
      expectClose(await into.data(), want.data, SPLIT_TOL.atol, SPLIT_TOL.rtol, `${M}x${K}x${N} accumulate + bias + relu`);
    }
  });
});

// A fully connected layer, activation(x W^T + b), in float64.
const acts = {
  none: (v: number) => v,
  relu: (v: number) => Math.max(v, 0),
  sigmoid: (v: number) => 1 / (1 + Math.exp(-v)),
};
function linearRef(x: ref.Arr, w: ref.Arr, b: ref.Arr, act: keyof typeof acts): ref.Arr {
  return ref.map(ref.zip(ref.matmul(x, w, false, true), b, (v, c) => v + c), acts[act]);
}

describe('linear: bias and activation in the matmul epilogue, the bias gradient in the weight gradient\'s dispatch', () => {
  // [batch, in, out] from the matmul sizes above: ragged (4 x 8 register blocks cut at every edge,
  // K % 4 tails), the vec4 paths (in and out multiples of 4), one output, one image.
  // And two whose long side splits over K: the forward ([2, 1030] x [9, 1030]^T, with the bias
  // and the activation after the slices) and the input gradient ([3, 7] x [1030, 7]^T: dx = g'W,
  // gated through the activation, K = 1030).
  for (const [B, I, O] of [...sizes.filter(([M, K, N]) => M * K * N < 1e6), [2, 1030, 9], [3, 7, 1030]]) {
    for (const act of ['none', 'relu', 'sigmoid'] as const) {
      it(`[${B},${I}] x [${O},${I}]^T + b, ${act}`, async () => {
        const seed = B * 100 + I + O;
        const x = ref.random([B, I], seed);
        const w = ref.random([O, I], seed + 1, -0.5, 0.5);
        const b = ref.random([O], seed + 2);
        await gradCheck({
          gpu: ([xt, wt, bt]) => linear(xt!, wt!, bt!, { activation: act === 'none' ? null : act }),
          cpu: ([xa, wa, ba]) => linearRef(xa!, wa!, ba!, act),
          analytic: ([xa, wa, ba], R) => {
            const pre = ref.zip(ref.matmul(xa!, wa!, false, true), ba!, (v, c) => v + c);
            const d = { none: () => 1, relu: (v: number) => (v > 0 ? 1 : 0), sigmoid: (v: number) => acts.sigmoid(v) * (1 - acts.sigmoid(v)) }[act];
            const gp = ref.zip(R, pre, (r, v) => r * d(v));
            return [ref.matmul(gp, wa!), ref.matmul(gp, xa!, true, false), ref.sumTo(gp, [O])];
          },
          inputs: [x, w, b],
          tol: TOL,
          fdTol: FD,
          fdSamples: 12,
          seed,
        });
      });
    }
  }

  it('row sums of op(A) beside the product, transposed or not, scaled by alpha', async () => {
    for (const [M, K, N, transA] of [[9, 13, 7, true], [5, 20, 3, false], [33, 7, 65, true], [4, 64, 8, false]] as const) {
      const a = ref.random(transA ? [K, M] : [M, K], M + K);
      const b = ref.random([K, N], K + N);
      const rs = Tensor.empty([M]);
      const c = matmulRaw(Tensor.fromData(a.data, a.shape), Tensor.fromData(b.data, b.shape), { transA, alpha: 0.5, rowSums: rs });
      const wantC = ref.map(ref.matmul(a, b, transA, false), (v) => 0.5 * v);
      expectClose(await c.data(), wantC.data, TOL.atol, TOL.rtol, `product ${M}x${K}x${N}`);
      const want = ref.map(ref.sum(a, [transA ? 0 : 1]), (v) => 0.5 * v);
      expectClose(await rs.data(), want.data, TOL.atol, TOL.rtol, `row sums ${M}x${K}x${N} transA=${transA}`);
    }
  });

  it('throws naming the op and the shapes on a bias or row sums of the wrong size', () => {
    const x = Tensor.fromData(new Float32Array(12).fill(1), [3, 4]);
    const w = Tensor.fromData(new Float32Array(20).fill(1), [5, 4]);
    expect(() => linear(x, w, Tensor.empty([4]))).toThrow('matmul: bias must have shape [5] (one per column of the result) (a [3,4], b [5,4], bias [4])');
    expect(() => matmulRaw(x, w, { transB: true, rowSums: Tensor.empty([5]) })).toThrow(/matmul: rowSums must hold 3 values .*rowSums \[5\]/);
    expect(() => linear(x, Tensor.empty([5, 3]), null)).toThrow(/linear: x must be \[batch, in\] and w \[out, in\].*x \[3,4\], w \[5,3\]/);
    expect(() => matmulRaw(x, w, { transB: true, gate: { y: Tensor.empty([5]), activation: 'relu' } })).toThrow(/matmul: gate.y must have the shape of a \(a \[3,4\], gate.y \[5\]\)/);
    expect(() => matmulRaw(x, w, { transB: true, activation: 'relu', gate: { y: x, activation: 'relu' } })).toThrow(/matmul: a gate and an epilogue activation cannot be combined/);
  });
});
