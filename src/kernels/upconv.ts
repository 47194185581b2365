// conv2d(upsampleNearest(x, 2), w, b) without the upsampled map. That map repeats each pixel
// 2 x 2, so each output parity (py, px) is an ordinary convolution of x itself with a smaller
// folded kernel (7x7 valid -> 4x4: 16 taps instead of 49). The four parity kernels run as one
// conv2d with 4*O output channels; depthToSpace2 then interleaves them into the output.
import source from '../../shaders/upconv.wgsl';
import { grid1d, Uniforms, type Binding } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { bindRange, checkF32, checkWhole, opError, planeChunks, wholeBinding } from './util.js';
import { conv2d, type Conv2dPadding } from './conv2d.js';
import { expand } from './elementwise.js';
import { sumTo } from './reduce.js';

export interface UpsampleConv2dOptions {
  /** Zero padding of the upsampled map, 'valid' (0) or 'same' ((K - 1) / 2). Default 0. */
  padding?: Conv2dPadding;
}

/** The folded kernel: size KF with padding PF on the input, for a K x K kernel with padding P. */
export interface FoldGeometry {
  K: number;
  P: number;
  KF: number;
  PF: number;
}

/** Checks w (odd, square) and the padding; errors name op and shapes. */
export function foldGeometry(op: string, w: Tensor, padding: Conv2dPadding = 0): FoldGeometry {
  checkF32(op, 'w', w);
  if (w.rank !== 4) throw opError(op, `w must be 4-D [out channels, in channels, kh, kw], got rank ${w.rank}`, ['w', w]);
  const [, , kh, K] = w.shape as [number, number, number, number];
  if (kh !== K) throw opError(op, `the kernel must be square, got ${kh}x${K}`, ['w', w]);
  // An even kernel gives an odd output side, which the four parities cannot split evenly.
  if (K % 2 === 0) throw opError(op, `the kernel side must be odd, got ${K}`, ['w', w]);
  const P = padding === 'valid' ? 0 : padding === 'same' ? (K - 1) / 2 : padding;
  if (typeof P !== 'number' || !Number.isInteger(P) || P < 0) {
    throw opError(op, `padding must be a non-negative integer, 'valid' or 'same', got ${JSON.stringify(padding)}`, ['w', w]);
  }
  const PF = Math.ceil(P / 2);
  return { K, P, KF: Math.floor((K - P) / 2) + PF + 1, PF };
}

function whole(op: string, name: string, t: Tensor): Binding {
  checkWhole(op, name, t);
  return wholeBinding(t);
}

function runFold(op: string, src: Tensor, dst: Tensor, O: number, C: number, g: FoldGeometry, backward: boolean): void {
  const engine = src.engine;
  const kernel = engine.kernel({ name: 'upconv', wgsl: source, defines: { FOLD: true, BACKWARD: backward } });
  engine.dispatch(kernel, {
    uniforms: new Uniforms(32).u32(dst.size, O, C, g.K, g.KF, g.P, g.PF, 0).build(),
    bindings: [whole(op, backward ? 'gradient' : 'w', src), whole(op, backward ? 'w gradient' : 'folded w', dst)],
    workgroups: grid1d(dst.size, 256),
  });
}

/**
 * The four parity kernels of w [O,C,K,K] for an upsampled input with padding `padding`, stacked
 * as [4*O, C, KF, KF] (channel (py*2+px)*O + o), to convolve the input itself with padding PF.
 */
export function foldUpsampleWeight(w: Tensor, padding: Conv2dPadding = 0): Tensor {
  const op = 'foldUpsampleWeight';
  const g = foldGeometry(op, w, padding);
  const [O, C] = w.shape as [number, number];
  const wf = Tensor.empty([4 * O, C, g.KF, g.KF], 'f32', w.engine);
  runFold(op, w, wf, O, C, g, false);
  return record(wf, op, [w], (gf) => {
    const gw = Tensor.empty(w.shape, 'f32', w.engine);
    runFold(`${op}.grad`, gf, gw, O, C, g, true);
    return [gw];
  });
}

/** b [O] repeated to [4*O], the bias of the stacked parity kernels; the gradient sums the copies. */
export function repeatBias4(b: Tensor): Tensor {
  const op = 'repeatBias4';
  checkF32(op, 'bias', b);
  if (b.rank !== 1) throw opError(op, 'bias must be 1-D', ['bias', b]);
  const O = b.shape[0]!;
  const tiled = expand(b, [4, O], 'x', op);
  const out = tiled.view([4 * O]);
  tiled.dispose();
  return record(out, op, [b], (g) => {
    const v = g.view([4, O]);
    return [sumTo(v, [O], true)];
  });
}

function runShuffle(op: string, src: Tensor, dst: Tensor, N: number, O: number, H: number, W: number, backward: boolean): void {
  const engine = src.engine;
  const kernel = engine.kernel({ name: 'upconv', wgsl: source, defines: { FOLD: false, BACKWARD: backward } });
  const img = 4 * O * H * W;
  for (const [n0, count] of planeChunks(op, engine, N, img, img)) {
    const a = bindRange(engine, src, n0 * img, count * img);
    const b = bindRange(engine, dst, n0 * img, count * img);
    const n = count * img;
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(n, a.base, b.base, O, H, W, 0, 0).build(),
      bindings: [a.binding, b.binding],
      workgroups: grid1d(n, 256),
    });
  }
}

/** [N, 4*O, H, W] -> [N, O, 2H, 2W]: channel (py*2+px)*O + o goes to pixels (2i+py, 2j+px) of channel o. */
export function depthToSpace2(y: Tensor, O: number): Tensor {
  const op = 'depthToSpace2';
  checkF32(op, 'y', y);
  if (y.rank !== 4) throw opError(op, 'y must be NCHW (rank 4)', ['y', y]);
  const [N, C4, H, W] = y.shape as [number, number, number, number];
  if (!Number.isInteger(O) || O < 1 || C4 !== 4 * O) throw opError(op, `y must have 4 * ${O} channels`, ['y', y]);
  const out = Tensor.empty([N, O, 2 * H, 2 * W], 'f32', y.engine);
  runShuffle(op, y, out, N, O, H, W, false);
  return record(out, op, [y], (g) => {
    const gy = Tensor.empty(y.shape, 'f32', y.engine);
    runShuffle(`${op}.grad`, g, gy, N, O, H, W, true);
    return [gy];
  });
}

/**
 * conv2d(upsampleNearest(x, 2), w, bias, {padding}) for odd square kernels, computed as one
 * convolution of x with the folded kernels: about (K'/K)^2 of the multiply-adds, and no
 * upsampled map in memory. Gradients flow to x, w and bias.
 */
export function upsampleConv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, o: UpsampleConv2dOptions = {}): Tensor {
  const op = 'upsampleConv2d';
  const g = foldGeometry(op, w, o.padding);
  checkF32(op, 'x', x);
  if (x.rank !== 4) throw opError(op, `x must be 4-D NCHW, got rank ${x.rank}`, ['x', x], ['w', w]);
  const [, C, H, W] = x.shape as [number, number, number, number];
  const [O, Cw] = w.shape as [number, number];
  if (C !== Cw) throw opError(op, `x has ${C} channels but w expects ${Cw}`, ['x', x], ['w', w]);
  if (2 * Math.min(H, W) + 2 * g.P < g.K) {
    throw opError(op, `the ${g.K}x${g.K} kernel is larger than the padded ${2 * H + 2 * g.P}x${2 * W + 2 * g.P} upsampled input (padding ${g.P})`, ['x', x], ['w', w]);
  }
  if (bias) {
    checkF32(op, 'bias', bias);
    if (bias.rank !== 1 || bias.shape[0] !== O) throw opError(op, `bias must have shape [${O}] (one per output channel)`, ['w', w], ['bias', bias]);
  }
  const wf = foldUpsampleWeight(w, g.P);
  const bf = bias ? repeatBias4(bias) : null;
  const y = conv2d(x, wf, bf, { padding: g.PF });
  // conv2d's gradient rule keeps its inputs (x, wf, bf); nothing needs its output after this.
  if (!y.requiresGrad) {
    wf.dispose();
    bf?.dispose();
  }
  const out = depthToSpace2(y, O);
  y.dispose();
  return out;
}
