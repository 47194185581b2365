// Elementwise unary and broadcasting binary ops, one WGSL template, each op's gradient beside it.
import source from '../../shaders/elementwise.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, chunks, contiguousStrides, opError, sameShape } from './util.js';
import { sumTo } from './reduce.js';

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
        { buffer: x.buffer, offset: start * 4, size: Math.max(count, 1) * 4 },
        { buffer: out.buffer, offset: start * 4, size: Math.max(count, 1) * 4 },
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
      bindings: [x.buffer, { buffer: out.buffer, offset: start * 4, size: Math.max(count, 1) * 4 }],
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
    const bytes = Math.max(count, 1) * 4;
    const part = (t: Tensor, full: boolean) => (full ? { buffer: t.buffer, offset: start * 4, size: bytes } : t.buffer);
    if (!aFull && a.size * 4 > engine.maxBinding) throw opError(name, 'broadcast operand exceeds one binding', ['a', a]);
    if (!bFull && b.size * 4 > engine.maxBinding) throw opError(name, 'broadcast operand exceeds one binding', ['b', b]);
    engine.dispatch(kernel, {
      uniforms: header(count, start, shape, sa, sb, params).build(),
      bindings: [part(a, aFull), part(b, bFull), { buffer: out.buffer, offset: start * 4, size: bytes }],
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}

// ---- differentiable ops -------------------------------------------------------------------

export function add(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a + b', 'add');
  return record(out, 'add', [a, b], (g) => [sumTo(g, a.shape), sumTo(g, b.shape)]);
}

export function sub(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a - b', 'sub');
  return record(out, 'sub', [a, b], (g) => [sumTo(g, a.shape), b.requiresGrad ? sumTo(mapUnary(g, '-x', 'neg'), b.shape, true) : null]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a * b', 'mul');
  return record(out, 'mul', [a, b], (g) => [
    a.requiresGrad ? sumTo(mapBinary(g, b, 'a * b', 'mul'), a.shape, true) : null,
    b.requiresGrad ? sumTo(mapBinary(g, a, 'a * b', 'mul'), b.shape, true) : null,
  ]);
}

export function div(a: Tensor, b: Tensor): Tensor {
  const out = mapBinary(a, b, 'a / b', 'div');
  return record(out, 'div', [a, b], (g) => {
    const ga = a.requiresGrad ? sumTo(mapBinary(g, b, 'a / b', 'div'), a.shape, true) : null;
    let gb: Tensor | null = null;
    if (b.requiresGrad) {
      const q = mapBinary(out, b, 'a / b', 'div'); // a / b^2
      gb = sumTo(mapBinary(g, q, '-a * b', 'mul'), b.shape, true);
      q.dispose();
    }
    return [ga, gb];
  });
}

function unary(x: Tensor, op: string, expr: string, grad: (g: Tensor, x: Tensor, y: Tensor) => Tensor, params?: number[]): Tensor {
  const y = mapUnary(x, expr, op, params);
  return record(y, op, [x], (g) => [grad(g, x, y)]);
}

export const neg = (x: Tensor) => unary(x, 'neg', '-x', (g) => mapUnary(g, '-x', 'neg'));
export const exp = (x: Tensor) => unary(x, 'exp', 'exp(x)', (g, _x, y) => mapBinary(g, y, 'a * b', 'exp.grad'));
export const log = (x: Tensor) => unary(x, 'log', 'log(x)', (g, x) => mapBinary(g, x, 'a / b', 'log.grad'));
// The rule reads the output (y > 0 exactly where x > 0), so a caller may free the input.
// NaN passes through, as in PyTorch, so the trainer's non-finite loss check sees it (lavapipe's
// max(NaN, 0) is 0; isNan is elementwise.wgsl's bit test).
export const relu = (x: Tensor) =>
  unary(x, 'relu', 'select(max(x, 0.0), x, isNan(x))', (g, _x, y) => mapBinary(g, y, 'select(0.0, a, b > 0.0)', 'relu.grad'));
export const sigmoid = (x: Tensor) =>
  unary(x, 'sigmoid', '1.0 / (1.0 + exp(-x))', (g, _x, y) => mapBinary(g, y, 'a * b * (1.0 - b)', 'sigmoid.grad'));
export const square = (x: Tensor) => unary(x, 'square', 'x * x', (g, x) => mapBinary(g, x, '2.0 * a * b', 'square.grad'));
export const sqrt = (x: Tensor) => unary(x, 'sqrt', 'sqrt(x)', (g, _x, y) => mapBinary(g, y, '0.5 * a / b', 'sqrt.grad'));
export const tanh = (x: Tensor) => unary(x, 'tanh', 'tanh(x)', (g, _x, y) => mapBinary(g, y, 'a * (1.0 - b * b)', 'tanh.grad'));

/** x * s (a JS number). */
export const mulScalar = (x: Tensor, s: number) =>
  unary(x, 'mulScalar', 'x * u.p.x', (g) => mapUnary(g, 'x * u.p.x', 'mulScalar', [s]), [s]);
/** x + s (a JS number). */
export const addScalar = (x: Tensor, s: number) => unary(x, 'addScalar', 'x + u.p.x', (g) => g, [s]);
/** x ^ p for a JS number p (x > 0 where p is not an integer). */
export const powScalar = (x: Tensor, p: number) =>
  unary(x, 'powScalar', 'pow(x, u.p.x)', (g, x) => mapBinary(g, x, 'a * u.p.x * pow(b, u.p.x - 1.0)', 'powScalar.grad', [p]), [p]);

/** A copy in new storage (no shared buffer). */
export function clone(x: Tensor): Tensor {
  return unary(x, 'clone', 'x', (g) => g);
}
