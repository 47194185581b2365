// Sum and mean over all or given axes; the gradient broadcasts back.
import source from '../../shaders/reduce.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, contiguousStrides, opError, sameShape, wholeBinding } from './util.js';
import { expand } from './map.js';

const MAX_RANK = 8;
// One workgroup should not sum more than this alone; beyond it the reduction is split in two passes.
const SPLIT_TARGET = 4096;
// Up to this many elements per output, one invocation sums them serially (no workgroup tree).
const SERIAL_MAX = 64;

function normAxes(op: string, x: Tensor, axes?: number | number[]): number[] {
  if (axes === undefined) return x.shape.map((_, i) => i);
  const list = (Array.isArray(axes) ? axes : [axes]).map((a) => (a < 0 ? a + x.rank : a));
  for (const a of list) if (!Number.isInteger(a) || a < 0 || a >= x.rank) throw opError(op, `axis ${a} out of range`, ['x', x]);
  if (new Set(list).size !== list.length) throw opError(op, `repeated axis in [${list}]`, ['x', x]);
  return list.sort((a, b) => a - b);
}

function pad(v: number[]): number[] {
  return [...v, ...new Array(MAX_RANK - v.length).fill(1)];
}

type Axes = [shape: number[], strides: number[]];

function reduceUniforms(outCount: number, redCount: number, kept: Axes, red: Axes, splits: number, chunk: number, scale: number): ArrayBuffer {
  return new Uniforms(160)
    .u32(outCount, redCount, kept[0].length, red[0].length, splits, chunk)
    .f32(scale)
    .u32(0)
    .u32(...pad(kept[0]), ...pad(kept[1]), ...pad(red[0]), ...pad(red[1]))
    .build();
}

function dispatchReduce(x: Tensor, outCount: number, redCount: number, kept: Axes, red: Axes, scale: number): Tensor {
  const engine = x.engine;
  if (x.size * 4 > engine.maxBinding) throw opError('sum', 'input exceeds one storage binding', ['x', x]);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  if (redCount <= SERIAL_MAX) {
    const out = Tensor.empty([outCount], 'f32', x.engine);
    const serial = engine.kernel({ name: 'reduce', wgsl: source, defines: { SERIAL: true } });
    const uniforms = reduceUniforms(outCount, redCount, kept, red, 1, redCount, scale);
    engine.dispatch(serial, { uniforms, bindings: [wholeBinding(x), wholeBinding(out)], workgroups: grid1d(outCount, 64, maxWg) });
    return out;
  }
  const kernel = engine.kernel({ name: 'reduce', wgsl: source });
  let splits = 1;
  if (redCount > SPLIT_TARGET && outCount < 1024) splits = Math.min(Math.ceil(redCount / SPLIT_TARGET), 1024);
  const chunk = Math.ceil(redCount / splits);
  const first = Tensor.empty([outCount * splits], 'f32', x.engine);
  const uniforms = reduceUniforms(outCount, redCount, kept, red, splits, chunk, splits === 1 ? scale : 1);
  engine.dispatch(kernel, { uniforms, bindings: [wholeBinding(x), wholeBinding(first)], workgroups: grid1d(outCount * splits, 1, maxWg) });
  if (splits === 1) return first;
  const second = Tensor.empty([outCount], 'f32', x.engine);
  const u2 = reduceUniforms(outCount, splits, [[outCount], [splits]], [[splits], [1]], 1, splits, scale);
  engine.dispatch(kernel, { uniforms: u2, bindings: [wholeBinding(first), wholeBinding(second)], workgroups: grid1d(outCount, 1, maxWg) });
  first.dispose();
  return second;
}

function reduceRaw(x: Tensor, axes: number[], scale: number, keepDims: boolean): Tensor {
  const strides = contiguousStrides(x.shape);
  const keptAxes = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const keptShape = keptAxes.map((i) => x.shape[i]!);
  const redShape = axes.map((i) => x.shape[i]!);
  const outCount = keptShape.reduce((a, b) => a * b, 1);
  const redCount = redShape.reduce((a, b) => a * b, 1);
  const out = dispatchReduce(x, outCount, redCount, [keptShape, keptAxes.map((i) => strides[i]!)], [redShape, axes.map((i) => strides[i]!)], scale);
  const shape = keepDims ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : keptShape;
  const v = out.view(shape);
  out.dispose();
  return v;
}

function reduceOp(op: string, x: Tensor, axes: number | number[] | undefined, keepDims: boolean, mean: boolean): Tensor {
  checkF32(op, 'x', x);
  if (x.rank > MAX_RANK) throw opError(op, `rank above ${MAX_RANK}`, ['x', x]);
  const list = normAxes(op, x, axes);
  const count = list.reduce((a, i) => a * x.shape[i]!, 1);
  const scale = mean ? 1 / Math.max(count, 1) : 1;
  const out = reduceRaw(x, list, scale, keepDims);
  return record(out, op, [x], (g) => [broadcastTo(g, x.shape, list, scale)]);
}

/** Sum over the given axes (all when omitted). */
export const sum = (x: Tensor, axes?: number | number[], keepDims = false) => reduceOp('sum', x, axes, keepDims, false);
/** Mean over the given axes (all when omitted). */
export const mean = (x: Tensor, axes?: number | number[], keepDims = false) => reduceOp('mean', x, axes, keepDims, true);

// The gradient of a reduction: g, re-shaped with the reduced axes as 1, broadcast to shape, times scale.
function broadcastTo(g: Tensor, shape: readonly number[], axes: number[], scale: number): Tensor {
  const kept = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const gv = g.view(kept);
  const out = expand(gv, shape, 'x * u.p.x', 'sum.grad', [scale]);
  gv.dispose();
  return out;
}

/**
 * Sums g over the axes along which `shape` was broadcast to g's shape (for broadcasting grads).
 * Returns g itself when nothing is summed; with `consume`, a g that is summed is disposed.
 */
export function sumTo(g: Tensor, shape: readonly number[], consume = false): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const off = g.rank - shape.length;
  const axes: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < off || (shape[i - off] === 1 && d !== 1)) axes.push(i);
  });
  const out = reduceRaw(g, axes, 1, false);
  const v = out.view(shape);
  out.dispose();
  if (consume) g.dispose();
  return v;
}
