// 2-D max pooling (NCHW) with stored argmax indices; the gradient is routed through them.
import source from '../../shaders/maxpool2d.wgsl';
import activationSource from '../../shaders/activation.wgsl';
import { Uniforms, type Engine } from '../gpu/engine.js';
import type { CompiledKernel } from '../gpu/pipelines.js';
import { isGradEnabled, record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { bindRange, checkF32, opError, planeChunks } from './util.js';

export interface MaxPool2dOptions {
  /** Window side (square windows). Default 2. */
  kernel?: number;
  /** Step between windows. Default: the kernel size (non-overlapping windows). */
  stride?: number;
  /** relu(maxPool2d(x)) in the same dispatch, and its gradient in the pooling's. */
  relu?: boolean;
}

function geometry(op: string, x: readonly number[], o: MaxPool2dOptions) {
  const k = o.kernel ?? 2;
  const s = o.stride ?? k;
  if (!Number.isInteger(k) || k < 1 || !Number.isInteger(s) || s < 1) {
    throw opError(op, `kernel and stride must be positive integers, got kernel ${k}, stride ${s}`, ['x', x]);
  }
  if (x.length !== 4) throw opError(op, 'x must be NCHW (rank 4)', ['x', x]);
  const [N, C, H, W] = x as [number, number, number, number];
  if (H < k || W < k) throw opError(op, `spatial size ${H}x${W} is smaller than the ${k}x${k} window`, ['x', x]);
  // Torch's floor mode: a partial window at the bottom or right edge is dropped (146 -> 73, 69 -> 34).
  const OH = Math.floor((H - k) / s) + 1;
  const OW = Math.floor((W - k) / s) + 1;
  return { N, C, H, W, OH, OW, k, s, planes: N * C };
}

type Geometry = ReturnType<typeof geometry>;

// Workgroups of 32 x 8 windows (or inputs): on lavapipe at the paper's pool1 about as fast as
// 64 x 4 or 16 x 8, while 8 x 8 took half as long again.
const WG_X = 32;
const WG_Y = 8;

/** K and S as overrides give the window loops constant bounds (a pipeline per window shape). */
function poolKernel(engine: Engine, g: Geometry, defines: Record<string, boolean>): CompiledKernel {
  return engine.kernel({ name: 'maxpool2d', wgsl: source + activationSource, defines, overrides: { K: g.k, S: g.s, WG_X, WG_Y } });
}

/**
 * Dispatches `kernel` over every plane, covering `rows` x `cols` of each; `bound` lists the
 * tensors in binding order, each as input-side (H x W planes) or output-side (OH x OW planes).
 * Planes are cut into runs that fit one storage binding and the dispatch limit; rows and columns
 * past that limit go in further dispatches from an offset.
 */
function launch(op: string, kernel: CompiledKernel, g: Geometry, bound: [Tensor, 'in' | 'out'][], rows: number, cols: number): void {
  const engine = bound[0]![0].engine;
  const per = { in: g.H * g.W, out: g.OH * g.OW };
  const cap = engine.limits.maxComputeWorkgroupsPerDimension;
  for (const [c0, n] of planeChunks(op, engine, g.planes, per.in, per.out)) {
    for (let p0 = c0; p0 < c0 + n; p0 += cap) {
      const count = Math.min(cap, c0 + n - p0);
      // Tensors on one side share a plane size, so their ranges start at the same base.
      const base = { in: 0, out: 0 };
      const bindings = bound.map(([t, side]) => {
        const r = bindRange(engine, t, p0 * per[side], count * per[side]);
        base[side] = r.base;
        return r.binding;
      });
      for (let y0 = 0; y0 < rows; y0 += cap * WG_Y) {
        for (let x0 = 0; x0 < cols; x0 += cap * WG_X) {
          engine.dispatch(kernel, {
            uniforms: new Uniforms(48).u32(count, base.in, base.out, g.H, g.W, g.OH, g.OW, x0, y0, 0, 0, 0).build(),
            bindings,
            workgroups: [Math.min(Math.ceil((cols - x0) / WG_X), cap), Math.min(Math.ceil((rows - y0) / WG_Y), cap), count],
          });
        }
      }
    }
  }
}

/**
 * Max pooling without a gradient record: the pooled values and, per output, the offset of the
 * chosen element within its input plane (ih * W + iw; the first maximum on ties), or with relu
 * 0xffffffff where the output is not positive (no element gets that window's gradient).
 */
export function maxPool2dRaw(x: Tensor, o: MaxPool2dOptions = {}, withIndices = true): { out: Tensor; indices: Tensor | null } {
  checkF32('maxPool2d', 'x', x);
  const g = geometry('maxPool2d', x.shape, o);
  const engine = x.engine;
  const out = Tensor.empty([g.N, g.C, g.OH, g.OW], 'f32', engine);
  const indices = withIndices ? Tensor.empty(out.shape, 'u32', engine) : null;
  const kernel = poolKernel(engine, g, { INDICES: withIndices, ACT_RELU: !!o.relu });
  const bound: [Tensor, 'in' | 'out'][] = [[x, 'in'], [out, 'out']];
  if (indices) bound.push([indices, 'out']);
  launch('maxPool2d', kernel, g, bound, g.OH, g.OW);
  return { out, indices };
}

/**
 * Gradient of max pooling: each input element receives the sum of the output gradients of the
 * windows whose stored argmax is that element (at most one window when stride >= kernel). With
 * relu the indices themselves gate the gradient (a window the ReLU zeroed stores none).
 */
export function maxPool2dBackward(grad: Tensor, indices: Tensor, inputShape: readonly number[], o: MaxPool2dOptions = {}): Tensor {
  checkF32('maxPool2d.grad', 'grad', grad);
  const engine = grad.engine;
  const g = geometry('maxPool2d.grad', inputShape, o);
  if (grad.size !== g.planes * g.OH * g.OW || indices.size !== grad.size || indices.dtype !== 'u32') {
    throw opError('maxPool2d.grad', 'gradient or indices do not match the pooled shape', ['grad', grad], ['indices', indices], ['input', inputShape]);
  }
  const gi = Tensor.empty(inputShape, 'f32', engine);
  // Overlapping windows can route several gradients to one input: gather per input element.
  // Otherwise scatter per window, which writes every input element exactly once.
  const overlap = g.s < g.k;
  const kernel = poolKernel(engine, g, { BACKWARD: true, OVERLAP: overlap });
  const bound: [Tensor, 'in' | 'out'][] = [[grad, 'out'], [indices, 'out'], [gi, 'in']];
  launch('maxPool2d.grad', kernel, g, bound, overlap ? g.H : g.OH, overlap ? g.W : g.OW);
  return gi;
}

/**
 * Max pooling over NCHW with square windows (default 2x2, stride = kernel), output size
 * floor((H - kernel) / stride) + 1 as in Torch's SpatialMaxPooling. The argmax indices live as
 * long as the gradient rule that needs them; they are only computed when a gradient is recorded.
 * With `relu` the output is rectified (NaN passing through), and a window it zeroed passes no
 * gradient.
 */
export function maxPool2d(x: Tensor, o: MaxPool2dOptions = {}): Tensor {
  const needGrad = isGradEnabled() && x.requiresGrad;
  const { out, indices } = maxPool2dRaw(x, o, needGrad);
  if (!indices) return out;
  return record(out, 'maxPool2d', [x], (g) => [maxPool2dBackward(g, indices, x.shape, o)]);
}
