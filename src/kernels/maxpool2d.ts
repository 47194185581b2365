// 2-D max pooling (NCHW) with stored argmax indices; the gradient is routed through them.
import source from '../../shaders/maxpool2d.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { isGradEnabled, record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { bindRange, checkF32, opError, planeChunks } from './util.js';

export interface MaxPool2dOptions {
  /** Window side (square windows). Default 2. */
  kernel?: number;
  /** Step between windows. Default: the kernel size (non-overlapping windows). */
  stride?: number;
}

function geometry(x: Tensor, o: MaxPool2dOptions) {
  const k = o.kernel ?? 2;
  const s = o.stride ?? k;
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(s) || s < 1) {
    throw opError('maxPool2d', `kernel and stride must be positive integers, got kernel ${k}, stride ${s}`, ['x', x]);
  }
  if (x.rank !== 4) throw opError('maxPool2d', 'x must be NCHW (rank 4)', ['x', x]);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  if (H < k || W < k) throw opError('maxPool2d', `spatial size ${H}x${W} is smaller than the ${k}x${k} window`, ['x', x]);
  // Torch's floor mode: a partial window at the bottom or right edge is dropped (146 -> 73, 69 -> 34).
  const OH = Math.floor((H - k) / s) + 1;
  const OW = Math.floor((W - k) / s) + 1;
  return { N, C, H, W, OH, OW, k, s, planes: N * C };
}

function uniforms(n: number, inBase: number, outBase: number, g: ReturnType<typeof geometry>): ArrayBuffer {
  return new Uniforms(48).u32(n, inBase, outBase, g.H, g.W, g.OH, g.OW, g.k, g.s, 0, 0, 0).build();
}

/**
 * Max pooling without a gradient record: the pooled values and, per output, the offset of the
 * chosen element within its input plane (ih * W + iw; the first maximum on ties).
 */
export function maxPool2dRaw(x: Tensor, o: MaxPool2dOptions = {}, withIndices = true): { out: Tensor; indices: Tensor | null } {
  checkF32('maxPool2d', 'x', x);
  const g = geometry(x, o);
  const engine = x.engine;
  const out = Tensor.empty([g.N, g.C, g.OH, g.OW], 'f32', engine);
  const indices = withIndices ? Tensor.empty(out.shape, 'u32', engine) : null;
  const kernel = engine.kernel({ name: 'maxpool2d', wgsl: source, defines: { INDICES: withIndices } });
  const inPlane = g.H * g.W;
  const outPlane = g.OH * g.OW;
  for (const [p0, count] of planeChunks('maxPool2d', engine, g.planes, inPlane, outPlane)) {
    const xin = bindRange(engine, x, p0 * inPlane, count * inPlane);
    const yout = bindRange(engine, out, p0 * outPlane, count * outPlane);
    const bindings = [xin.binding, yout.binding];
    if (indices) bindings.push(bindRange(engine, indices, p0 * outPlane, count * outPlane).binding);
    const n = count * outPlane;
    engine.dispatch(kernel, { uniforms: uniforms(n, xin.base, yout.base, g), bindings, workgroups: grid1d(n, 256) });
  }
  return { out, indices };
}

/**
 * Gradient of max pooling: each input element receives the sum of the output gradients of the
 * windows whose stored argmax is that element (at most one window when stride >= kernel).
 */
export function maxPool2dBackward(grad: Tensor, indices: Tensor, inputShape: readonly number[], o: MaxPool2dOptions = {}): Tensor {
  checkF32('maxPool2d.grad', 'grad', grad);
  const engine = grad.engine;
  const gi = Tensor.empty(inputShape, 'f32', engine);
  const g = geometry(gi, o);
  if (grad.size !== g.planes * g.OH * g.OW || indices.size !== grad.size || indices.dtype !== 'u32') {
    gi.dispose();
    throw opError('maxPool2d.grad', 'gradient or indices do not match the pooled shape', ['grad', grad], ['indices', indices], ['input', inputShape]);
  }
  const kernel = engine.kernel({ name: 'maxpool2d', wgsl: source, defines: { BACKWARD: true } });
  const inPlane = g.H * g.W;
  const outPlane = g.OH * g.OW;
  for (const [p0, count] of planeChunks('maxPool2d.grad', engine, g.planes, inPlane, outPlane)) {
    const gin = bindRange(engine, grad, p0 * outPlane, count * outPlane);
    const idx = bindRange(engine, indices, p0 * outPlane, count * outPlane);
    const gout = bindRange(engine, gi, p0 * inPlane, count * inPlane);
    const n = count * inPlane;
    engine.dispatch(kernel, {
      uniforms: uniforms(n, gout.base, gin.base, g),
      bindings: [gin.binding, idx.binding, gout.binding],
      workgroups: grid1d(n, 256),
    });
  }
  return gi;
}

/**
 * Max pooling over NCHW with square windows (default 2x2, stride = kernel), output size
 * floor((H - kernel) / stride) + 1 as in Torch's SpatialMaxPooling. The argmax indices live as
 * long as the gradient rule that needs them; they are only computed when a gradient is recorded.
 */
export function maxPool2d(x: Tensor, o: MaxPool2dOptions = {}): Tensor {
  const needGrad = isGradEnabled() && x.requiresGrad;
  const { out, indices } = maxPool2dRaw(x, o, needGrad);
  if (!indices) return out;
  return record(out, 'maxPool2d', [x], (g) => [maxPool2dBackward(g, indices, x.shape, o)]);
}
