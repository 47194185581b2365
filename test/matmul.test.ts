import { describe, expect, it } from 'vitest';
import { useEngine } from './setup/engine.js';
import { gradCheck } from './setup/gradcheck.js';
import { ops, Tensor } from '../src/node.js';
import * as ref from './ref/cpu.js';

useEngine();

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
