// Batched matrix multiply with optional transposes; the gradient rules are matmuls too.
import activationSource from '../../shaders/activation.wgsl';
import source from '../../shaders/matmul.wgsl';
import { Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, opError, output, wholeBinding } from './util.js';
import { sumTo } from './reduce.js';
import { activationDefines, activationGrad, type Activation } from './elementwise.js';

export interface MatmulOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
}

/** The raw kernel's epilogue: a bias per column and an activation, or op(A)'s row sums. */
export interface MatmulEpilogue {
  /** [N], added to every row of C after alpha (batch 1). */
  bias?: Tensor | null;
  activation?: Activation | null;
  /** [M], receives alpha * the sums over k of op(A)'s rows (batch 1). */
  rowSums?: Tensor;
  /** With `into`: add the product to what C holds (before the bias) instead of overwriting it. */
  accumulate?: boolean;
  /**
   * A read through the derivative of `activation` taken from `y` (A's shape): for the gradient
   * through a layer's activation without a pass of its own. No epilogue activation then.
   */
  gate?: { y: Tensor; activation: Activation };
}


interface Dims {
  batch: number;
  M: number;
  N: number;
  K: number;
  batchA: number;
  batchB: number;
}

function dims(a: Tensor, b: Tensor, o: MatmulOptions): Dims {
  const bad = (msg: string) => opError('matmul', msg, ['a', a], ['b', b]);
  if (a.rank < 2 || a.rank > 3 || b.rank < 2 || b.rank > 3) throw bad('operands must be 2-D or 3-D (batched)');
  const [ar, ac] = a.shape.slice(-2) as [number, number];
  const [br, bc] = b.shape.slice(-2) as [number, number];
  const [M, Ka] = o.transA ? [ac, ar] : [ar, ac];
  const [Kb, N] = o.transB ? [bc, br] : [br, bc];
  if (Ka !== Kb) {
    throw bad(`inner dimensions differ: ${Ka} vs ${Kb}${o.transA || o.transB ? ` (transA=${!!o.transA}, transB=${!!o.transB})` : ''}`);
  }
  const batchA = a.rank === 3 ? a.shape[0]! : 1;
  const batchB = b.rank === 3 ? b.shape[0]! : 1;
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) throw bad(`batch sizes differ: ${batchA} vs ${batchB}`);
  return { batch: Math.max(batchA, batchB), M, N, K: Ka, batchA, batchB };
}

/**
 * C = activation(alpha * op(A) op(B) + bias) into a new tensor or `into` (with `accumulate`, added
 * to what `into` holds, before the bias). No gradient recorded.
 */
export function matmulRaw(a: Tensor, b: Tensor, o: MatmulOptions & MatmulEpilogue = {}, into?: Tensor): Tensor {
  checkF32('matmul', 'a', a);
  checkF32('matmul', 'b', b);
  const d = dims(a, b, o);
  const { bias = null, rowSums, gate } = o;
  if (gate) {
    checkF32('matmul', 'gate.y', gate.y);
    if (gate.y.size !== a.size) throw opError('matmul', 'gate.y must have the shape of a', ['a', a], ['gate.y', gate.y]);
    if (o.activation) throw opError('matmul', 'a gate and an epilogue activation cannot be combined', ['a', a]);
  }
  if ((bias || rowSums) && d.batch !== 1) throw opError('matmul', 'a bias or row sums need a batch of 1', ['a', a], ['b', b]);
  if (bias) {
    checkF32('matmul', 'bias', bias);
    if (bias.rank !== 1 || bias.size !== d.N) throw opError('matmul', `bias must have shape [${d.N}] (one per column of the result)`, ['a', a], ['b', b], ['bias', bias]);
  }
  if (rowSums) {
    checkF32('matmul', 'rowSums', rowSums);
    if (rowSums.size !== d.M) throw opError('matmul', `rowSums must hold ${d.M} values (one per row of the result)`, ['a', a], ['b', b], ['rowSums', rowSums]);
  }
  const engine = a.engine;
  const outShape = a.rank === 3 || b.rank === 3 ? [d.batch, d.M, d.N] : [d.M, d.N];
  if (o.accumulate && !into) throw opError('matmul', 'accumulate needs into', ['a', a], ['b', b]);
  for (const [name, t] of [['a', a], ['b', b], ['c', { size: d.batch * d.M * d.N }]] as const) {
    if (t.size * 4 > engine.maxBinding) {
      throw opError('matmul', `${name} has ${t.size * 4} bytes, above the ${engine.maxBinding}-byte binding limit; split the batch`, ['a', a], ['b', b]);
    }
  }
  const c = output('matmul', outShape, engine, into);
  const fewRows = engine.fewRowMatmul && d.M <= FEW_ROWS && d.batch === 1 && !rowSums && !gate;
  // Workgroups over C's columns and rows: the few-rows kernel's take 256 columns (a lane per four).
  const grid = fewRows ? [Math.ceil(d.N / 256), 1] : [Math.ceil(d.N / 64), Math.ceil(d.M / 32)];
  const splits = rowSums || d.batch !== 1 ? 1 : splitK(d.K, grid[0]! * grid[1]!);
  const kChunk = Math.ceil(d.K / splits / 4) * 4;
  // With a split the product's dispatch writes partial slices and the epilogue (bias, activation,
  // accumulate) moves to the sum's; the gate stays with the product, which loads A.
  const split = splits > 1;
  const epilogue = split ? { bias: null, activation: null, accumulate: false } : { bias, activation: o.activation, accumulate: !!o.accumulate };
  const kernel = engine.kernel({
    name: 'matmul',
    wgsl: activationSource + source,
    defines: {
      ...activationDefines('matmul', gate ? gate.activation : epilogue.activation),
      A_GATE: !!gate,
      BIAS: !!epilogue.bias,
      ROW_SUM: !!rowSums,
      RS_BINDING: epilogue.bias ? 5 : 4,
      Y_BINDING: 4 + (epilogue.bias ? 1 : 0) + (rowSums ? 1 : 0),
      TRANS_A: !!o.transA,
      TRANS_B: !!o.transB,
      A_VEC: !fewRows && (o.transA ? d.M : d.K) % 4 === 0,
      B_VEC: !fewRows && (o.transB ? d.K : d.N) % 4 === 0,
      C_VEC: !fewRows && d.N % 4 === 0,
      ACCUMULATE: epilogue.accumulate,
      SPLIT: split,
      FEW_ROWS: fewRows,
    },
    ...(fewRows && { overrides: { ROWS: d.M } }),
  });
  const uniforms = new Uniforms(48)
    .u32(d.M, d.N, d.K, d.batch, d.batchA === 1 ? 0 : d.M * d.K, d.batchB === 1 ? 0 : d.K * d.N, d.M * d.N)
    .f32(o.alpha ?? 1)
    .u32(kChunk, splits)
    .build();
  const partial = split ? Tensor.empty([splits * d.M * d.N], 'f32', engine) : null;
  engine.dispatch(kernel, {
    uniforms,
    bindings: [a, b, partial ?? c, ...(epilogue.bias ? [epilogue.bias] : []), ...(rowSums ? [rowSums] : []), ...(gate ? [gate.y] : [])].map(wholeBinding),
    workgroups: [grid[0]!, grid[1]!, split ? splits : d.batch],
  });
  if (partial) {
    const sum = engine.kernel({
      name: 'matmul',
      wgsl: activationSource + source,
      defines: { ...activationDefines('matmul', gate ? null : o.activation), SPLIT_SUM: true, BIAS: !!bias, ACCUMULATE: !!o.accumulate },
    });
    engine.dispatch(sum, {
      uniforms,
      bindings: [partial, c, ...(bias ? [bias] : [])].map(wholeBinding),
      workgroups: [Math.ceil((d.M * d.N) / 64), 1, 1],
    });
    partial.dispose();
  }
  return c;
}

// The most rows of op(A) for the few-rows kernel (Engine.fewRowMatmul).
const FEW_ROWS = 4;

// Split-K: a product of one workgroup and a long K, in slices of at least SPLIT_K_MIN, up to
// SPLIT_GROUPS of them. Only one workgroup: lavapipe runs a few in parallel well enough that a
// second dispatch costs more (the paper's heads at batch 4, four workgroups: 0.65 ms, 0.95 split
// in four), while one workgroup is one core there and, on SwiftShader, the heads' 1.7 ms.
const SPLIT_K_MIN = 256;
const SPLIT_GROUPS = 16;

/** K slices for a product of `groups` workgroups (1: no split). */
export function splitK(K: number, groups: number): number {
  if (groups > 1) return 1;
  return Math.max(1, Math.min(Math.floor(K / SPLIT_K_MIN), SPLIT_GROUPS));
}

/**
 * op(A) @ op(B) for [M,K]x[K,N] or batched [B,M,K]x[B,K,N] (a batch of 1 broadcasts).
 * transA / transB read an operand stored transposed without copying it.
 */
export function matmul(a: Tensor, b: Tensor, o: MatmulOptions = {}): Tensor {
  const c = matmulRaw(a, b, o);
  const { transA = false, transB = false } = o;
  const alpha = o.alpha ?? 1;
  return record(c, 'matmul', [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    // With Â = op(A), B̂ = op(B): dÂ = g B̂ᵀ, dB̂ = Âᵀ g; a stored-transposed operand gets the
    // transpose of that (B̂ gᵀ, gᵀ Â), all as matmuls that read operands in place.
    if (a.requiresGrad) {
      ga = transA ? matmulRaw(b, g, { transA: transB, transB: true, alpha }) : matmulRaw(g, b, { transB: !transB, alpha });
      if (ga.size !== a.size) ga = sumTo(ga, [1, ...a.shape.slice(-2)], true);
    }
    if (b.requiresGrad) {
      gb = transB ? matmulRaw(g, a, { transA: true, transB: transA, alpha }) : matmulRaw(a, g, { transA: !transA, alpha });
      if (gb.size !== b.size) gb = sumTo(gb, [1, ...b.shape.slice(-2)], true);
    }
    return [ga, gb];
  });
}

/**
 * A fully connected layer, y = activation(x W^T + b) with W [out, in] as PyTorch stores it, in
 * one dispatch. The gradient is two more: dx = g' W and dW = g'^T x with db (the column sums of
 * g') from the same dispatch, where g' is g through the activation's derivative, taken from y as
 * both matmuls load g (their gate). The rule reads y when there is an activation: the caller
 * must keep it.
 */
export function linear(x: Tensor, w: Tensor, b: Tensor | null, o: { activation?: Activation | null } = {}): Tensor {
  const op = 'linear';
  checkF32(op, 'x', x);
  checkF32(op, 'w', w);
  if (x.rank !== 2 || w.rank !== 2 || x.shape[1] !== w.shape[1]) {
    throw opError(op, 'x must be [batch, in] and w [out, in] with the same in', ['x', x], ['w', w]);
  }
  const activation = o.activation ?? null;
  const y = matmulRaw(x, w, { transB: true, bias: b, activation });
  return record(y, op, b ? [x, w, b] : [x, w], (g, into, sum) => {
    const gate = activation ? { y, activation } : undefined;
    // Added into x's gradient from its other uses where the tape offers it (two heads on one x).
    const gx = x.requiresGrad ? matmulRaw(g, w, { gate, accumulate: !!sum[0] }, sum[0] ?? undefined) : null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (w.requiresGrad) {
      gb = b?.requiresGrad ? output(op, b.shape, b.engine, into[2]) : null;
      gw = matmulRaw(g, x, { transA: true, rowSums: gb ?? undefined, gate }, into[1] ?? undefined);
    } else if (b?.requiresGrad) {
      const gp = activation ? activationGrad(g, y, activation) : g;
      gb = sumTo(gp, b.shape, gp !== g);
    }
    return b ? [gx, gw, gb] : [gx, gw];
  });
}
