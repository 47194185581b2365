// jax-js's side of the kernels bench (kernel-cases.ts): each row's op as a jit'd function of the
// row's operands, the gradients by jax's vjp of the forward (not hand-written transposes). jax-js
// keeps our layouts (NCHW activations, [O,C,kh,kw] filters, [out,in] linear weights), so its
// outputs compare with ours as they are. Each call hands the jit'd function new references
// (`.ref`): it takes ownership of its arguments, and the operands are kept for the next run.
import type { Jax, JaxArray } from './jax.js';

type A = JaxArray;

/** A row's jax-js op: run() records it and returns its outputs (not yet waited for). */
export interface JaxOp {
  run: () => A[];
  /** Frees the jit'd function's compiled state. */
  dispose(): void;
}

/** fn jit'd, called with new references to the given operands. */
function jitted(jax: Jax, fn: (...args: A[]) => A | A[], operands: A[]): JaxOp {
  const f = jax.jit((...args: A[]) => {
    const out = fn(...args);
    return Array.isArray(out) ? out : [out];
  });
  return { run: () => f(...operands.map((o) => o.ref)), dispose: () => f.dispose() };
}

/** Cotangents of f's inputs for the cotangent dy of its output. */
function pullback(jax: Jax, f: (...xs: A[]) => A, primals: A[], dy: A): A[] {
  const [y, back] = jax.vjp(f, primals);
  y.dispose();
  const grads = back(dy) as A[];
  back.dispose();
  return grads;
}

/** Nearest-neighbour x2 upsampling of an NCHW map, as a broadcast: jax-js has no resize op. */
export function upsample2(jax: Jax, x: A): A {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  return jax.numpy.broadcastTo(x.reshape([N, C, H, 1, W, 1]), [N, C, H, 2, W, 2]).reshape([N, C, 2 * H, 2 * W]);
}

/** An encoder conv, or with up a decoder layer (x2 nearest upsampling, then the conv): valid, stride 1, bias added. */
export function jaxConvOps(jax: Jax, up: boolean, x: A, w: A, b: A, dy: A): Record<'fwd' | 'dx' | 'dw', JaxOp> {
  const O = w.shape[0]!;
  const input = (x: A) => (up ? upsample2(jax, x) : x);
  const layer = (x: A, w: A, b: A) => jax.lax.conv(input(x), w, [1, 1], 'VALID').add(b.reshape([1, O, 1, 1]));
  return {
    fwd: jitted(jax, layer, [x, w, b]),
    dx: jitted(jax, (x, w, b, dy) => pullback(jax, (x) => layer(x, w, b), [x], dy), [x, w, b, dy]),
    dw: jitted(jax, (x, w, b, dy) => pullback(jax, (w, b) => layer(x, w, b), [w, b], dy), [x, w, b, dy]),
  };
}

/** 2x2/2 max pooling of an NCHW map, valid: an odd side's last row or column is dropped, as ours does. */
export function maxPool2(jax: Jax, x: A): A {
  const [, , H, W] = x.shape as [number, number, number, number];
  const even = H % 2 || W % 2 ? x.slice([], [], [0, H - (H % 2)], [0, W - (W % 2)]) : x;
  return jax.lax.reduceWindow(even, (t) => jax.numpy.max(t), [2, 2], [2, 2]);
}

/** 2x2/2 max pooling; bwd by vjp, the forward recomputed. */
export function jaxPoolOps(jax: Jax, x: A, dy: A): Record<'fwd' | 'bwd', JaxOp> {
  const pool = (x: A) => maxPool2(jax, x);
  return {
    fwd: jitted(jax, pool, [x]),
    bwd: jitted(jax, (x, dy) => pullback(jax, pool, [x], dy), [x, dy]),
  };
}

/** y = x W^T with W [out, in], no bias (as the other sides' rows); dx and dW by vjp. */
export function jaxLinearOps(jax: Jax, x: A, w: A, dy: A): Record<'fwd' | 'dx' | 'dw', JaxOp> {
  const linear = (x: A, w: A) => jax.numpy.matmul(x, w.transpose());
  return {
    fwd: jitted(jax, linear, [x, w]),
    dx: jitted(jax, (x, w, dy) => pullback(jax, (x) => linear(x, w), [x], dy), [x, w, dy]),
    dw: jitted(jax, (x, w, dy) => pullback(jax, (w) => linear(x, w), [w], dy), [x, w, dy]),
  };
}
