// conv2d(upsampleNearest(x, 2), w, b) without the upsampled map. That map repeats each pixel
// 2 x 2, so each output parity (py, px) is an ordinary convolution of x itself with a smaller
// folded kernel (7x7 valid -> 4x4: 16 taps instead of 49). The four parity kernels run as one
// convolution with 4*O output channels whose store interleaves them into the output, adds the
// bias and applies the layer's activation: one dispatch besides the weight fold.
import source from '../../shaders/upconv.wgsl';
import { Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import activationSource from '../../shaders/activation.wgsl';
import { bindRange, checkF32, opError, planeChunks, sameShape } from './util.js';
import { conv2dGradBias, conv2dGradInput, conv2dGradWeight, conv2dGradWeightBias, conv2dRaw, type Conv2dPadding } from './conv2d.js';
import { activationDefines, type Activation } from './elementwise.js';
import { foldBackLayers, foldGeometry, foldGradSlots, foldUpsample, type FoldedLayer } from './fold.js';

export { foldGeometry, foldUpsample, type FoldGeometry, type FoldedLayer } from './fold.js';

// Workgroups of the depth-to-space backward: 16 columns x 8 rows of the H x W plane.
const SHUFFLE_WG = [16, 8] as const;

export interface UpsampleConv2dOptions {
  /** Zero padding of the upsampled map, 'valid' (0) or 'same' ((K - 1) / 2). Default 0. */
  padding?: Conv2dPadding;
  /** Applied in the convolution's store; the gradient rule then reads the output. */
  activation?: Activation | null;
  /**
   * w and the bias already folded (foldUpsample, which folds a network's layers in one dispatch
   * and their gradients back in one more); the caller keeps them until the backward. Default:
   * folded here.
   */
  folded?: FoldedLayer;
}

/**
 * The four parity kernels of w [O,C,K,K] for an upsampled input with padding `padding`, stacked
 * as [4*O, C, KF, KF] (channel (py*2+px)*O + o), to convolve the input itself with padding PF.
 */
export function foldUpsampleWeight(w: Tensor, padding: Conv2dPadding = 0): Tensor {
  return foldUpsample([{ w, padding }], 'foldUpsampleWeight')[0]!.w;
}

/**
 * The gradient at the stacked convolution's output [N,4O,H,W] from the gradient g at the layer's
 * output [N,O,2H,2W] and, with an activation, that output y (its derivative is read from y).
 * Exported for the kernels bench, which times the layer's gradients one by one.
 */
export function upsampleConv2dStackedGrad(g: Tensor, N: number, O: number, H: number, W: number, y: Tensor | null = null, activation: Activation | null = null): Tensor {
  const op = 'upsampleConv2d.grad';
  const engine = g.engine;
  if (activation && !y) throw opError(op, `the ${activation} layer's output is needed for its derivative`, ['g', g]);
  const act = !!activation;
  const kernel = engine.kernel({
    name: 'upconv',
    wgsl: activationSource + source,
    defines: { FOLD: false, ACT: act, ...activationDefines(op, activation) },
    overrides: { WG_X: SHUFFLE_WG[0], WG_Y: SHUFFLE_WG[1] },
  });
  const gy = Tensor.empty([N, 4 * O, H, W], 'f32', engine);
  const img = 4 * O * H * W;
  const cap = engine.limits.maxComputeWorkgroupsPerDimension;
  const [gx, gyRows] = [Math.ceil(W / SHUFFLE_WG[0]), Math.ceil(H / SHUFFLE_WG[1])];
  if (gx > cap || gyRows > cap || O > cap) {
    throw opError(op, `a ${H}x${W} plane of ${O} channels exceeds the dispatch limit of ${cap} workgroups a dimension`, ['g', g]);
  }
  // The launch's z runs over image x channel, so a dispatch takes at most cap / O images.
  const perDispatch = Math.floor(cap / O);
  for (const [c0, count] of planeChunks(op, engine, N, img, img)) {
    for (let n0 = c0; n0 < c0 + count; n0 += perDispatch) {
      const n = Math.min(perDispatch, c0 + count - n0);
      const a = bindRange(engine, g, n0 * img, n * img);
      const b = bindRange(engine, gy, n0 * img, n * img);
      const bindings = [a.binding, b.binding];
      if (act) bindings.push(bindRange(engine, y!, n0 * img, n * img).binding);
      engine.dispatch(kernel, {
        uniforms: new Uniforms(32).u32(n * O, a.base, b.base, O, H, W, 0, 0).build(),
        bindings,
        workgroups: [gx, gyRows, n * O],
      });
    }
  }
  return gy;
}

/**
 * The weight and bias gradients of upsampleConv2d from x and gy, the gradient at the stacked
 * convolution's output (upsampleConv2dStackedGrad), as training runs them: the stacked
 * convolution's weight gradient with its bias lane, into the fold's gradient slots, then the fold
 * back. Exported for the kernels bench, which times it as the layer's dw.
 */
export function upsampleConv2dGradParams(x: Tensor, gy: Tensor, w: Tensor, bias: Tensor | null, padding: Conv2dPadding = 0): FoldedLayer {
  const layers = [{ w, bias, padding }];
  const [slots] = foldGradSlots(layers);
  const conv = { padding: foldGeometry('upsampleConv2d.grad', w, padding).PF };
  if (slots!.bias) conv2dGradWeightBias(x, gy, slots!.w.shape, conv, slots!.w, slots!.bias);
  else conv2dGradWeight(x, gy, slots!.w.shape, conv, slots!.w);
  const [back] = foldBackLayers(layers, [slots!]);
  slots!.w.dispose();
  slots!.bias?.dispose();
  return back!;
}

/**
 * activation(conv2d(upsampleNearest(x, 2), w, bias, {padding})) for odd square kernels, computed
 * as one convolution of x with the folded kernels: about (K'/K)^2 of the multiply-adds, and no
 * upsampled map in memory. Gradients flow to x, w and bias (through the fold's node); with an
 * activation the rule reads the output, so the caller keeps it until the backward.
 */
export function upsampleConv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, o: UpsampleConv2dOptions = {}): Tensor {
  const op = 'upsampleConv2d';
  const g = foldGeometry(op, w, o.padding);
  checkF32(op, 'x', x);
  if (x.rank !== 4) throw opError(op, `x must be 4-D NCHW, got rank ${x.rank}`, ['x', x], ['w', w]);
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cw] = w.shape as [number, number];
  if (C !== Cw) throw opError(op, `x has ${C} channels but w expects ${Cw}`, ['x', x], ['w', w]);
  if (2 * Math.min(H, W) + 2 * g.P < g.K) {
    throw opError(op, `the ${g.K}x${g.K} kernel is larger than the padded ${2 * H + 2 * g.P}x${2 * W + 2 * g.P} upsampled input (padding ${g.P})`, ['x', x], ['w', w]);
  }
  if (bias) {
    checkF32(op, 'bias', bias);
    if (bias.rank !== 1 || bias.shape[0] !== O) throw opError(op, `bias must have shape [${O}] (one per output channel)`, ['w', w], ['bias', bias]);
  }
  const activation = o.activation ?? null;
  activationDefines(op, activation); // an unknown activation throws here, before any dispatch
  const wfShape = [4 * O, C, g.KF, g.KF];
  const given = o.folded;
  if (given && (!sameShape(given.w.shape, wfShape) || !!given.bias !== !!bias || (given.bias && given.bias.size !== 4 * O))) {
    throw opError(op, `folded must hold w folded [${wfShape.join(',')}]${bias ? ` and the bias tiled [${4 * O}]` : ' and no bias'}`, ['w', w], ['folded w', given.w]);
  }
  const { w: wf, bias: bf } = given ?? foldUpsample([{ w, bias, padding: o.padding }], op)[0]!;
  const conv = { padding: g.PF };
  const y = conv2dRaw(x, wf, bf, conv, { activation, depthToSpace: true });
  const [, , Ho2, Wo2] = y.shape as [number, number, number, number];
  const [Ho, Wo] = [Ho2 / 2, Wo2 / 2];
  // The gradients of the stacked convolution go to the folded weights and bias, whose node (one
  // for every layer folded together) folds them back.
  const out = record(y, op, bf ? [x, wf, bf] : [x, wf], (gOut, into) => {
    const gy = upsampleConv2dStackedGrad(gOut, N, O, Ho, Wo, y, activation);
    const gx = x.requiresGrad ? conv2dGradInput(gy, wf, x.shape, conv) : null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (wf.requiresGrad && bf?.requiresGrad) ({ dw: gw, db: gb } = conv2dGradWeightBias(x, gy, wf.shape, conv, into[1], into[2]));
    else if (wf.requiresGrad) gw = conv2dGradWeight(x, gy, wf.shape, conv, into[1]);
    else if (bf?.requiresGrad) gb = conv2dGradBias(gy, into[2]);
    gy.dispose();
    return bf ? [gx, gw, gb] : [gx, gw];
  });
  // The rule keeps x and the folded tensors; without one nothing needs them.
  if (!out.requiresGrad && !given) {
    wf.dispose();
    bf?.dispose();
  }
  return out;
}
