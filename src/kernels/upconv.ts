// conv2d(upsampleNearest(x, 2), w, b) without the upsampled map. That map repeats each pixel
// 2 x 2, so each output parity (py, px) is an ordinary convolution of x itself with a smaller
// folded kernel (7x7 valid -> 4x4: 16 taps instead of 49). The four parity kernels run as one
// convolution with 4*O output channels whose store interleaves them into the output, adds the
// bias and applies the layer's activation: one dispatch besides the weight fold.
import source from '../../shaders/upconv.wgsl';
import { grid1d, Uniforms, type Binding } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { packLayout, shapeSize, Tensor } from '../tensor.js';
import activationSource from '../../shaders/activation.wgsl';
import { bindRange, checkF32, checkWhole, opError, output, planeChunks, sameShape, wholeBinding } from './util.js';
import { conv2dGradBias, conv2dGradInput, conv2dGradWeight, conv2dGradWeightBias, conv2dRaw, type Conv2dPadding } from './conv2d.js';
import { activationDefines, type Activation } from './elementwise.js';

export interface UpsampleConv2dOptions {
  /** Zero padding of the upsampled map, 'valid' (0) or 'same' ((K - 1) / 2). Default 0. */
  padding?: Conv2dPadding;
  /** Applied in the convolution's store; the gradient rule then reads the output. */
  activation?: Activation | null;
  /**
   * w already folded (foldUpsampleWeights, which folds a network's layers in one dispatch); the
   * caller owns it and keeps it until the backward. Default: folded here.
   */
  folded?: Tensor;
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

/**
 * The fold's backward: the folded gradient src to w's, dst; with `bias` it also sums the stacked
 * convolution's bias gradient [4O] over the parities into [O].
 */
function foldBack(op: string, src: Tensor, dst: Tensor, O: number, C: number, g: FoldGeometry, bias?: { stacked: Tensor; out: Tensor }): void {
  const engine = src.engine;
  const kernel = engine.kernel({ name: 'upconv', wgsl: source, defines: { FOLD: true, BACKWARD: true, DB: !!bias } });
  const bindings = [whole(op, 'gradient', src), whole(op, 'w gradient', dst)];
  if (bias) bindings.push(wholeBinding(bias.stacked), wholeBinding(bias.out));
  const n = dst.size + (bias ? O : 0);
  engine.dispatch(kernel, {
    uniforms: foldTable(n, dst.size, [[0, 0, 0, O, C, g]]),
    bindings,
    workgroups: grid1d(n, 256),
  });
}

// Rows of the fold's table (shaders/upconv.wgsl): the end of the row's invocations, its first
// element in the source and in the destination, O, C and the geometry.
const MAX_FOLDS = 8;
type FoldRow = [end: number, src: number, dst: number, O: number, C: number, g: FoldGeometry];

function foldTable(n: number, nw: number, rows: FoldRow[]): ArrayBuffer {
  const u = new Uniforms(16 + 48 * MAX_FOLDS).u32(n, rows.length, nw, 0);
  for (let j = 0; j < MAX_FOLDS; j++) {
    const r = rows[j];
    u.u32(...(r ? [r[0], r[1], r[2], r[3], r[4], r[5].K, r[5].KF, r[5].P, r[5].PF, 0, 0, 0] : new Array<number>(12).fill(0)));
  }
  return u.build();
}

/**
 * The folds of weights ws (geometries gs): one dispatch for each run of up to MAX_FOLDS that lie
 * in one buffer within one binding (as an optimizer's packed parameters do); the folded weights
 * are slots of one new buffer per run.
 */
function foldForward(ws: readonly Tensor[], gs: readonly FoldGeometry[]): Tensor[] {
  const engine = ws[0]!.engine;
  const out: Tensor[] = [];
  const span = (from: number, to: number) => {
    const run = ws.slice(from, to);
    const lo = Math.min(...run.map((w) => w.offset));
    return { lo, bytes: Math.max(...run.map((w) => w.offset + w.size * 4)) - lo };
  };
  for (let k = 0; k < ws.length; ) {
    let e = k + 1;
    while (e < ws.length && e - k < MAX_FOLDS && ws[e]!.buffer === ws[k]!.buffer && span(k, e + 1).bytes <= engine.maxBinding) e++;
    const run = ws.slice(k, e);
    const shapes = run.map((w, j) => [4 * w.shape[0]!, w.shape[1]!, gs[k + j]!.KF, gs[k + j]!.KF]);
    const layout = packLayout(engine, shapes.map(shapeSize));
    const flat = Tensor.empty([layout.total], 'f32', engine);
    const { lo, bytes } = span(k, e);
    let end = 0;
    const rows = run.map((w, j): FoldRow => [(end += shapeSize(shapes[j]!)), (w.offset - lo) / 4, layout.offsets[j]!, w.shape[0]!, w.shape[1]!, gs[k + j]!]);
    const uniforms = foldTable(end, 0, rows);
    const kernel = engine.kernel({ name: 'upconv', wgsl: source, defines: { FOLD: true, BACKWARD: false } });
    if (end) {
      engine.dispatch(kernel, {
        uniforms,
        bindings: [{ buffer: run[0]!.buffer, offset: lo, size: bytes }, wholeBinding(flat)],
        workgroups: grid1d(end, 256),
      });
    }
    run.forEach((_, j) => out.push(flat.slot(layout.offsets[j]!, shapes[j]!)));
    flat.dispose();
    k = e;
  }
  return out;
}

/**
 * foldUpsampleWeight of each weight (paddings[k] for ws[k]) without recording a gradient, in one
 * dispatch where they share a buffer: a network folds its decoder this way, then passes each
 * result to upsampleConv2d as `folded`.
 */
export function foldUpsampleWeights(ws: readonly Tensor[], paddings: readonly Conv2dPadding[]): Tensor[] {
  const op = 'foldUpsampleWeights';
  if (ws.length !== paddings.length) throw new Error(`${op}: ${ws.length} weights but ${paddings.length} paddings`);
  if (!ws.length) return [];
  const gs = ws.map((w, k) => foldGeometry(op, w, paddings[k]));
  ws.forEach((w, k) => checkWhole(op, `w ${k}`, w));
  if (ws.some((w) => w.engine !== ws[0]!.engine)) throw new Error(`${op}: weights live on different engines`);
  return foldForward(ws, gs);
}

/**
 * The four parity kernels of w [O,C,K,K] for an upsampled input with padding `padding`, stacked
 * as [4*O, C, KF, KF] (channel (py*2+px)*O + o), to convolve the input itself with padding PF.
 */
export function foldUpsampleWeight(w: Tensor, padding: Conv2dPadding = 0): Tensor {
  const op = 'foldUpsampleWeight';
  const g = foldGeometry(op, w, padding);
  const [O, C] = w.shape as [number, number];
  checkWhole(op, 'w', w);
  const [wf] = foldForward([w], [g]);
  return record(wf!, op, [w], (gf, into) => {
    const gw = output(`${op}.grad`, w.shape, w.engine, into[0]);
    foldBack(`${op}.grad`, gf, gw, O, C, g);
    return [gw];
  });
}

/**
 * The gradient at the stacked convolution's output [N,4O,H,W] from the gradient g at the layer's
 * output [N,O,2H,2W] and, with an activation, that output y (its derivative is read from y).
 * Exported for the kernels bench, which times the layer's gradients one by one.
 */
export function upsampleConv2dStackedGrad(g: Tensor, N: number, O: number, H: number, W: number, y: Tensor | null = null, activation: Activation | null = null): Tensor {
  const op = 'upsampleConv2d.grad';
  const engine = g.engine;
  const act = !!activation && !!y;
  const kernel = engine.kernel({
    name: 'upconv',
    wgsl: activationSource + source,
    defines: { FOLD: false, ACT: act, ...activationDefines(op, act ? activation : null) },
  });
  const gy = Tensor.empty([N, 4 * O, H, W], 'f32', engine);
  const img = 4 * O * H * W;
  for (const [n0, count] of planeChunks(op, engine, N, img, img)) {
    const a = bindRange(engine, g, n0 * img, count * img);
    const b = bindRange(engine, gy, n0 * img, count * img);
    const n = count * img;
    const bindings = [a.binding, b.binding];
    if (act) bindings.push(bindRange(engine, y!, n0 * img, count * img).binding);
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(n, a.base, b.base, O, H, W, 0, 0).build(),
      bindings,
      workgroups: grid1d(n, 256),
    });
  }
  return gy;
}

/**
 * The weight gradient of upsampleConv2d (and with `withBias` the bias gradient) from x and gy,
 * the gradient at the stacked convolution's output (upsampleConv2dStackedGrad): the stacked
 * convolution's weight gradient, its bias lane giving the 4O stacked channels' bias gradient,
 * then one fold back to w's shape that also sums the bias over the four parities. Exported for
 * the kernels bench, which times it as the layer's dw.
 */
export function upsampleConv2dGradParams(
  x: Tensor,
  gy: Tensor,
  w: Tensor,
  withBias: boolean,
  padding: Conv2dPadding = 0,
  into: Tensor | null = null,
  biasInto: Tensor | null = null,
): { dw: Tensor; db: Tensor | null } {
  const op = 'upsampleConv2d.grad';
  const g = foldGeometry(op, w, padding);
  const [O, C] = w.shape as [number, number];
  const wfShape = [4 * O, C, g.KF, g.KF];
  const conv = { padding: g.PF };
  const r = withBias ? conv2dGradWeightBias(x, gy, wfShape, conv) : { dw: conv2dGradWeight(x, gy, wfShape, conv), db: null };
  const dw = output(op, w.shape, w.engine, into);
  const db = withBias ? output(op, [O], w.engine, biasInto) : null;
  foldBack(op, r.dw, dw, O, C, g, db ? { stacked: r.db!, out: db } : undefined);
  r.dw.dispose();
  r.db?.dispose();
  return { dw, db };
}

/**
 * activation(conv2d(upsampleNearest(x, 2), w, bias, {padding})) for odd square kernels, computed
 * as one convolution of x with the folded kernels: about (K'/K)^2 of the multiply-adds, and no
 * upsampled map in memory. Gradients flow to x, w and bias; with an activation the rule reads
 * the output, so the caller keeps it until the backward.
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
  // The fold belongs to this op's node (not one of its own), so that the weight gradient's fold
  // back also finishes the bias gradient: one dispatch fewer.
  const wfShape = [4 * O, C, g.KF, g.KF];
  if (o.folded && !sameShape(o.folded.shape, wfShape)) {
    throw opError(op, `folded must have shape [${wfShape.join(',')}] (w folded)`, ['w', w], ['folded', o.folded]);
  }
  const wf = o.folded ?? (checkWhole(op, 'w', w), foldForward([w], [g])[0]!);
  const conv = { padding: g.PF };
  const y = conv2dRaw(x, wf, bias, conv, { activation, depthToSpace: true });
  const [, , Ho2, Wo2] = y.shape as [number, number, number, number];
  const [Ho, Wo] = [Ho2 / 2, Wo2 / 2];
  const out = record(y, op, bias ? [x, w, bias] : [x, w], (gOut, into) => {
    const gy = upsampleConv2dStackedGrad(gOut, N, O, Ho, Wo, y, activation);
    const gx = x.requiresGrad ? conv2dGradInput(gy, wf, x.shape, conv) : null;
    let gw: Tensor | null = null;
    let gb: Tensor | null = null;
    if (w.requiresGrad) {
      ({ dw: gw, db: gb } = upsampleConv2dGradParams(x, gy, w, !!bias?.requiresGrad, o.padding, into[1], into[2]));
    } else if (bias?.requiresGrad) {
      // Channel (py*2+px)*O + o of image n is channel o of image 4n + py*2+px: one sum per o.
      const images = gy.view([4 * N, O, Ho, Wo]);
      gb = conv2dGradBias(images, into[2]);
      images.dispose();
    }
    gy.dispose();
    return bias ? [gx, gw, gb] : [gx, gw];
  });
  // The rule keeps x and the folded weights; without one nothing needs them.
  if (!out.requiresGrad && !o.folded) wf.dispose();
  return out;
}
