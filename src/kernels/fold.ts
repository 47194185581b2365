// The weight fold of upsampleConv2d (src/kernels/upconv.ts): a nearest x2 upsample followed by a
// K x K convolution is, for each of the four output parities, a convolution of the input itself
// with a folded KF x KF kernel; a bias [O] folds as a 1x1 kernel, i.e. it is tiled over the
// parities. One dispatch folds up to eight tensors that share a buffer (a network's decoder
// weights and biases, packed by its optimizer), and the fold is one node of several outputs, so
// that one dispatch also folds every gradient back.
import source from '../../shaders/upconv.wgsl';
import { grid1d, Uniforms, type Binding, type Engine } from '../gpu/engine.js';
import { recordMany } from '../autograd/tape.js';
import { packLayout, shapeSize, Tensor } from '../tensor.js';
import { checkF32, checkWhole, opError, wholeBinding } from './util.js';
import type { Conv2dPadding } from './conv2d.js';

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

/** One tensor to fold: weights [O,C,K,K], or a bias [O] (a 1x1 kernel of one input channel). */
interface Fold {
  src: Tensor;
  O: number;
  C: number;
  g: FoldGeometry;
  /** Folded: [4O,C,KF,KF], or [4O] for a bias. */
  shape: number[];
}

function weightFold(op: string, w: Tensor, padding: Conv2dPadding): Fold {
  const g = foldGeometry(op, w, padding);
  checkWhole(op, 'w', w);
  const [O, C] = w.shape as [number, number];
  return { src: w, O, C, g, shape: [4 * O, C, g.KF, g.KF] };
}

function biasFold(op: string, b: Tensor, O: number): Fold {
  checkF32(op, 'bias', b);
  if (b.rank !== 1 || b.size !== O) throw opError(op, `bias must have shape [${O}] (one per output channel)`, ['bias', b]);
  return { src: b, O, C: 1, g: { K: 1, P: 0, KF: 1, PF: 0 }, shape: [4 * O] };
}

const MAX_FOLDS = 8;

/** The uniform table of shaders/upconv.wgsl: per row its end, source and destination offsets. */
function foldTable(n: number, folds: readonly Fold[], ends: number[], src: number[], dst: number[]): ArrayBuffer {
  const u = new Uniforms(16 + 48 * MAX_FOLDS).u32(n, folds.length, 0, 0);
  for (let j = 0; j < MAX_FOLDS; j++) {
    const f = folds[j];
    u.u32(...(f ? [ends[j]!, src[j]!, dst[j]!, f.O, f.C, f.g.K, f.g.KF, f.g.P, f.g.PF, 0, 0, 0] : new Array<number>(12).fill(0)));
  }
  return u.build();
}

/** The span of tensors' bytes in their (one) buffer, as a binding, and each one's element offset in it. */
function spanOf(ts: readonly Tensor[]): { binding: Binding; at: number[]; bytes: number } {
  const lo = Math.min(...ts.map((t) => t.offset));
  const bytes = Math.max(...ts.map((t) => t.offset + t.size * 4)) - lo;
  return { binding: { buffer: ts[0]!.buffer, offset: lo, size: bytes }, at: ts.map((t) => (t.offset - lo) / 4), bytes };
}

/** Cuts folds into runs of at most MAX_FOLDS whose tensors share one buffer within one binding. */
function runsOf(folds: readonly Fold[], tensor: (f: Fold) => Tensor): Fold[][] {
  const runs: Fold[][] = [];
  for (const f of folds) {
    const run = runs[runs.length - 1];
    const t = tensor(f);
    if (run && run.length < MAX_FOLDS && tensor(run[0]!).buffer === t.buffer && spanOf([...run.map(tensor), t]).bytes <= t.engine.maxBinding) run.push(f);
    else runs.push([f]);
  }
  return runs;
}

function dispatchFolds(folds: readonly Fold[], backward: boolean, src: { binding: Binding; at: number[] }, dst: { binding: Binding; at: number[] }): void {
  const engine = folds[0]!.src.engine;
  let n = 0;
  const ends = folds.map((f) => (n += backward ? f.src.size : shapeSize(f.shape)));
  if (!n) return;
  engine.dispatch(engine.kernel({ name: 'upconv', wgsl: source, defines: { FOLD: true, BACKWARD: backward } }), {
    uniforms: foldTable(n, folds, ends, src.at, dst.at),
    bindings: [src.binding, dst.binding],
    workgroups: grid1d(n, 256),
  });
}

/** Slots of one new buffer, one of each shape, and that buffer's binding. */
function newSlots(shapes: number[][], engine: Engine): { slots: Tensor[]; binding: Binding; at: number[] } {
  const layout = packLayout(engine, shapes.map(shapeSize));
  const flat = Tensor.empty([layout.total], 'f32', engine);
  const slots = shapes.map((s, j) => flat.slot(layout.offsets[j]!, s));
  const binding = wholeBinding(flat);
  flat.dispose();
  return { slots, binding, at: layout.offsets };
}

export interface UpsampleLayer {
  w: Tensor;
  bias?: Tensor | null;
  padding?: Conv2dPadding;
}

export interface FoldedLayer {
  /** [4O, C, KF, KF]: parity (py*2+px) of output channel o is stacked channel (py*2+px)*O + o. */
  w: Tensor;
  /** [4O]: the bias tiled over the parities (channel (py*2+px)*O + o holds o's), or null. */
  bias: Tensor | null;
}

function foldsOf(op: string, layers: readonly UpsampleLayer[]): Fold[] {
  const folds: Fold[] = [];
  for (const l of layers) {
    const wf = weightFold(op, l.w, l.padding ?? 0);
    folds.push(wf);
    if (l.bias) folds.push(biasFold(op, l.bias, wf.O));
  }
  const engine = folds[0]?.src.engine;
  if (folds.some((f) => f.src.engine !== engine)) throw new Error(`${op}: tensors live on different engines`);
  return folds;
}

/** Per layer, its weight's and bias's entries of a list made fold by fold. */
function byLayer<T>(layers: readonly UpsampleLayer[], perFold: T[]): { w: T; bias: T | null }[] {
  let k = 0;
  return layers.map((l) => ({ w: perFold[k++]!, bias: l.bias ? perFold[k++]! : null }));
}

/** Per fold, a slot of its folded shape; the slots of a run share one buffer. */
function slotsFor(runs: Fold[][]): Tensor[] {
  return runs.flatMap((run) => newSlots(run.map((f) => f.shape), run[0]!.src.engine).slots);
}

/**
 * Folds every layer's weights and bias for upsampleConv2d (its `folded` option): one dispatch for
 * each run of up to 8 tensors that share a buffer. With a gradient, it is one node whose rule
 * folds every gradient back in one dispatch a run: the folded tensors' gradient slots, which the
 * convolutions' rules fill, lie in one buffer a run.
 */
export function foldUpsample(layers: readonly UpsampleLayer[], op = 'foldUpsample'): FoldedLayer[] {
  const folds = foldsOf(op, layers);
  if (!folds.length) return [];
  const runs = runsOf(folds, (f) => f.src);
  const outs: Tensor[] = [];
  for (const run of runs) {
    const dst = newSlots(run.map((f) => f.shape), run[0]!.src.engine);
    dispatchFolds(run, false, spanOf(run.map((f) => f.src)), dst);
    outs.push(...dst.slots);
  }
  recordMany(outs, op, folds.map((f) => f.src), (grads, into) =>
    foldBack(runs, outs.map((o) => o.gradSlot!), grads, into, (f) => f.src.requiresGrad),
  );
  if (outs[0]!.requiresGrad) slotsFor(runs).forEach((slot, k) => (outs[k]!.gradSlot = slot));
  return byLayer(layers, outs);
}

/**
 * For timing and tests: slots for the gradients of foldUpsample(layers)'s results (one buffer a
 * run), and the fold back of gradients held in them, as foldUpsample's rule runs it.
 */
export function foldGradSlots(layers: readonly UpsampleLayer[]): FoldedLayer[] {
  return byLayer(layers, slotsFor(runsOf(foldsOf('foldGradSlots', layers), (f) => f.src)));
}

export function foldBackLayers(layers: readonly UpsampleLayer[], grads: readonly FoldedLayer[]): FoldedLayer[] {
  const folds = foldsOf('foldBackLayers', layers);
  const g = grads.flatMap((l, k) => (layers[k]!.bias ? [l.w, l.bias!] : [l.w]));
  return byLayer(layers, foldBack(runsOf(folds, (f) => f.src), g, g, folds.map(() => null), () => true) as Tensor[]);
}

/**
 * The fold node's rule: each run's gradients (moved into its slots where a rule did not write them
 * there) folded back in one dispatch, into the inputs' gradient slots where the tape offers them
 * all in one buffer, else into a new one.
 */
function foldBack(runs: Fold[][], slots: Tensor[], grads: (Tensor | null)[], into: readonly (Tensor | null)[], wanted: (f: Fold) => boolean): (Tensor | null)[] {
  const result: (Tensor | null)[] = slots.map(() => null);
  let next = 0;
  for (const run of runs) {
    const start = next;
    next += run.length;
    const idx = run.map((_, j) => start + j).filter((k) => grads[k] && wanted(run[k - start]!));
    if (!idx.length) continue;
    const engine = run[0]!.src.engine;
    for (const k of idx) {
      const g = grads[k]!;
      if (!g.aliases(slots[k]!)) engine.copy(g.buffer, g.offset, slots[k]!.buffer, slots[k]!.offset, g.size * 4);
    }
    const folds = idx.map((k) => run[k - start]!);
    const src = spanOf(idx.map((k) => slots[k]!));
    const targets = idx.map((k) => into[k]);
    const given = targets.every((t): t is Tensor => !!t) ? targets : null;
    if (given && given.every((t) => t.buffer === given[0]!.buffer) && spanOf(given).bytes <= engine.maxBinding) {
      dispatchFolds(folds, true, src, spanOf(given));
      idx.forEach((k, j) => (result[k] = given[j]!));
    } else {
      const dst = newSlots(folds.map((f) => [...f.src.shape]), engine);
      dispatchFolds(folds, true, src, dst);
      idx.forEach((k, j) => (result[k] = dst.slots[j]!));
    }
  }
  return result;
}
