// The elementwise WGSL template's raw kernels: unary maps, broadcasting binary maps and expand.
// No gradients here, so reductions (whose gradients expand) and the differentiable ops can both
// build on this file without importing each other.
import elementwiseSource from '../../shaders/elementwise.wgsl';
import activationSource from '../../shaders/activation.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { Tensor } from '../tensor.js';
import { checkF32, chunks, contiguousStrides, opError, rangeBinding, sameShape, wholeBinding } from './util.js';

// Expressions may call isNan, activation.wgsl's bit test.
const source = elementwiseSource + activationSource;

const MAX_RANK = 8;

function header(n: number, base: number, shape: readonly number[], sa: number[], sb: number[], p: number[]): Uniforms {
  const u = new Uniforms(160).u32(n, base, shape.length, 0).f32(p[0] ?? 0, p[1] ?? 0, p[2] ?? 0, p[3] ?? 0);
  const pad = (v: readonly number[]) => [...v, ...new Array(MAX_RANK - v.length).fill(1)];
  u.u32(...pad(shape)).u32(...pad(sa)).u32(...pad(sb));
  return u;
}

/** out = EXPR(x) where EXPR is WGSL in `x` and `u.p` (the params). No gradient recorded. */
export function mapUnary(x: Tensor, expr: string, name: string, params: number[] = []): Tensor {
  checkF32(name, 'x', x);
  const engine = x.engine;
  const out = Tensor.empty(x.shape, 'f32', engine);
  const kernel = engine.kernel({ name: 'elementwise', wgsl: source, defines: { UNARY: true, A_FULL: true, EXPR: expr } });
  for (const [start, count] of chunks(engine, x.size)) {
    engine.dispatch(kernel, {
      uniforms: header(count, start, x.shape, [], [], params).build(),
      bindings: [
        rangeBinding(x, start, count),
        rangeBinding(out, start, count),
      ],
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}

/** out[shape] = EXPR(x broadcast to shape). No gradient recorded. */
export function expand(x: Tensor, shape: readonly number[], expr: string, name: string, params: number[] = []): Tensor {
  checkF32(name, 'x', x);
  const target = broadcastShapes(name, x.shape, shape);
  if (!sameShape(target, shape)) throw opError(name, 'cannot expand', ['x', x], ['to', shape]);
  if (x.size * 4 > x.engine.maxBinding) throw opError(name, 'source exceeds one binding', ['x', x]);
  const engine = x.engine;
  const out = Tensor.empty(shape, 'f32', engine);
  const kernel = engine.kernel({ name: 'elementwise', wgsl: source, defines: { UNARY: true, A_FULL: false, EXPR: expr } });
  const sa = broadcastStrides(x.shape, shape);
  for (const [start, count] of chunks(engine, out.size)) {
    engine.dispatch(kernel, {
      uniforms: header(count, start, shape, sa, [], params).build(),
      bindings: [wholeBinding(x), rangeBinding(out, start, count)],
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}

export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw opError(op, 'shapes do not broadcast', ['a', a], ['b', b]);
    out.push(da === 1 ? db : da);
  }
  if (rank > MAX_RANK) throw opError(op, `rank above ${MAX_RANK}`, ['a', a], ['b', b]);
  return out;
}

function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = contiguousStrides(shape);
  const off = outShape.length - shape.length;
  return outShape.map((d, i) => (i < off || shape[i - off] === 1 ? 0 : strides[i - off]!));
}

/** out = EXPR(a, b) with broadcasting; EXPR is WGSL in `a`, `b` and `u.p`. No gradient recorded. */
export function mapBinary(a: Tensor, b: Tensor, expr: string, name: string, params: number[] = []): Tensor {
  checkF32(name, 'a', a);
  checkF32(name, 'b', b);
  if (a.engine !== b.engine) throw opError(name, 'operands live on different engines', ['a', a], ['b', b]);
  const engine = a.engine;
  const shape = broadcastShapes(name, a.shape, b.shape);
  const out = Tensor.empty(shape, 'f32', engine);
  const aFull = sameShape(a.shape, shape);
  const bFull = sameShape(b.shape, shape);
  const kernel = engine.kernel({ name: 'elementwise', wgsl: source, defines: { A_FULL: aFull, B_FULL: bFull, EXPR: expr } });
  const sa = broadcastStrides(a.shape, shape);
  const sb = broadcastStrides(b.shape, shape);
  for (const [start, count] of chunks(engine, out.size)) {
    const part = (t: Tensor, full: boolean) => (full ? rangeBinding(t, start, count) : wholeBinding(t));
    if (!aFull && a.size * 4 > engine.maxBinding) throw opError(name, 'broadcast operand exceeds one binding', ['a', a]);
    if (!bFull && b.size * 4 > engine.maxBinding) throw opError(name, 'broadcast operand exceeds one binding', ['b', b]);
    engine.dispatch(kernel, {
      uniforms: header(count, start, shape, sa, sb, params).build(),
      bindings: [part(a, aFull), part(b, bFull), rangeBinding(out, start, count)],
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}
