// The benchmark's operands and rows for every layer of the paper network: its layer list, the
// same random data on both sides (tfjs in its NHWC / [kh,kw,C,O] layouts), what ours and tfjs run
// for each op, and float64 CPU references where they are cheap. bench/kernels.ts times them.
import type { Tensor as TfTensor, Tensor4D as TfTensor4D } from '@tensorflow/tfjs';
import { Tensor, type Engine } from '../src/node.js';
import { conv2dGradBias, conv2dGradInput, conv2dGradWeight, conv2dRaw } from '../src/kernels/conv2d.js';
import { maxPool2dBackward, maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import { foldGeometry, upsampleConv2d } from '../src/kernels/upconv.js';
import { matmulRaw } from '../src/kernels/matmul.js';
import { noGrad } from '../src/autograd/tape.js';
import { getPreset } from '../src/model/presets.js';
import { network } from '../src/model/network.js';
import type { TF } from './tfjs.js';
import { Rng } from '../src/data/rng.js';
import { KKCO_TO_OCKK, NCHW_TO_NHWC, NHWC_TO_NCHW, OCKK_TO_KKCO, permute4 } from './peer-data.js';

export type Unit = 'GFLOP/s' | 'GB/s';

// ---- the paper network's layers ----------------------------------------------------------

/**
 * A conv's input side H is before the x2 upsampling where up: a decoder layer, nearest x2
 * upsampling and then the valid conv, which tfjs runs as the two ops and ours as upsampleConv2d
 * (the conv folded onto the un-upsampled input, then depth-to-space).
 */
type ConvLayer = { kind: 'conv'; name: string; C: number; O: number; H: number; k: number; up: boolean };
type PoolLayer = { kind: 'pool'; name: string; C: number; H: number };
type LinearLayer = { kind: 'linear'; name: string; inF: number; outF: number; note: string };
type Layer = ConvLayer | PoolLayer | LinearLayer;

/** The layers in network order, sizes from the `paper` preset's network (src/model/network.ts). */
export function paperLayers(): Layer[] {
  const net = network(getPreset('paper'));
  const out: Layer[] = [];
  const short = (name: string) => name.replace('encoder.', '').replace('decoder.conv', 'dec');
  for (const l of net.convs.filter((c) => c.kFolded === null)) {
    out.push({ kind: 'conv', name: short(l.name), C: l.C, O: l.O, H: l.H, k: l.k, up: false });
    out.push({ kind: 'pool', name: short(l.name).replace('conv', 'pool'), C: l.O, H: l.Ho });
  }
  const [mu, , fc] = net.linears;
  out.push({ kind: 'linear', name: 'enc_fc', inF: mu!.inF, outF: mu!.outF, note: 'per head (mu, logvar)' });
  out.push({ kind: 'linear', name: 'dec_fc', inF: fc!.inF, outF: fc!.outF, note: '' });
  // network() gives a decoder layer's upsampled input side; the bench's layers take the map before it.
  for (const l of net.convs.filter((c) => c.kFolded !== null)) out.push({ kind: 'conv', name: short(l.name), C: l.C, O: l.O, H: l.H / 2, k: l.k, up: true });
  return out;
}

export const LAYER_NAMES = paperLayers().map((l) => l.name);

// ---- data --------------------------------------------------------------------------------

/** Deterministic uniform values in [-scale, scale), shared by both sides. */
function randomData(n: number, seed: number, scale = 1): Float32Array {
  const rng = Rng.fromSeed(seed);
  return new Float32Array(n).map(() => rng.range(-scale, scale));
}

/** tfjs's output in layout NHWC (or [kh,kw,C,O]) of the given NCHW (or [O,C,kh,kw]) shape, back in ours. */
const nchwFromNhwc = ([N, C, H, W]: readonly number[]) => (d: Float32Array) => permute4(d, [N!, H!, W!, C!], NHWC_TO_NCHW);
const ockkFromKkco = ([O, C, kh, kw]: readonly number[]) => (d: Float32Array) => permute4(d, [kh!, kw!, C!, O!], KKCO_TO_OCKK);
const same = (d: Float32Array) => d;

interface Operand {
  data: Float32Array;
  ours: Tensor;
  /** tfjs's copy in its layout; null without tfjs. */
  tf: TfTensor | null;
}

/** The same random operands on both sides (tfjs's in its layouts); everything made is disposed together. */
class Operands {
  private readonly made: { dispose(): void }[] = [];
  constructor(private readonly engine: Engine, private readonly tf: TF | null, private seed: number) {}
  /**
   * Uniform values in [-scale, scale), a new seed each call. tfjs gets 4-D activations in NHWC
   * ('nchw'), conv weights as [kh,kw,C,O] ('ockk'), anything else as it is ('plain').
   */
  make(shape: readonly number[], layout: 'nchw' | 'ockk' | 'plain', scale = 1): Operand {
    const data = randomData(shape.reduce((a, b) => a * b, 1), this.seed++, scale);
    const ours = this.own(Tensor.fromData(data, shape, 'f32', this.engine));
    const perm = layout === 'nchw' ? NCHW_TO_NHWC : layout === 'ockk' ? OCKK_TO_KKCO : null;
    const tf = this.tf && this.own(perm ? this.tf.tensor(permute4(data, shape, perm), perm.map((p) => shape[p]!)) : this.tf.tensor(data, [...shape]));
    return { data, ours, tf };
  }
  own<T extends { dispose(): void }>(t: T): T {
    this.made.push(t);
    return t;
  }
  dispose(): void {
    for (const t of this.made) t.dispose();
  }
}

// ---- one row per op ----------------------------------------------------------------------

/** tfjs: run() returns its outputs; toOurs[i] maps output i's values into our layout. */
export interface TfOp {
  run: () => TfTensor[];
  toOurs: ((data: Float32Array) => Float32Array)[];
}

export interface Case {
  layer: string;
  op: string;
  shape: string;
  unit: Unit;
  work: number;
  /** FLOPs our kernels execute, where they differ from `work` (the folded decoder convolutions). */
  executedWork?: number;
  /** Records our op and returns its outputs (in our layouts). */
  ours: () => Tensor[];
  tfjs: TfOp | null;
  /** A float64 CPU result in our layout, where cheap: consulted when ours and tfjs disagree. */
  reference?: () => Float32Array[];
  /** Said beside the reference's verdict, after reference() ran. */
  referenceNote?: () => string;
}

export interface LayerData {
  cases: Case[];
  dispose: () => void;
}

const sh = (s: readonly number[]) => s.join('x');

/**
 * Our decoder layer as training runs it, from the graph upsampleConv2d records:
 * out = depthToSpace2(conv2d(x, foldUpsampleWeight(w), repeatBias4(b), padding PF)). The dw row
 * starts from the shuffled gradient made once here: the dx row pays for the shuffle, which
 * training runs once for both.
 */
function foldedLayer(io: Operands, x: Tensor, w: Tensor, b: Tensor, dy: Tensor): { fwd: () => Tensor[]; dx: () => Tensor[]; dw: () => Tensor[]; KF: number } {
  const { PF, KF } = foldGeometry('kernels bench', w);
  for (const t of [x, w, b]) t.requiresGrad = true;
  const out = upsampleConv2d(x, w, b);
  for (const t of [x, w, b]) t.requiresGrad = false;
  const shuffle = out.node!;
  const conv = shuffle.inputs[0]!.node!; // the folded conv's output itself is freed already
  const [, wf, bf] = conv.inputs as [Tensor, Tensor, Tensor];
  io.own(out);
  io.own(wf);
  io.own(bf);
  const gy = io.own(noGrad(() => shuffle.backward(dy)[0]!));
  return {
    KF,
    fwd: () => [noGrad(() => upsampleConv2d(x, w, b))],
    dx: () =>
      noGrad(() => {
        const g = shuffle.backward(dy)[0]!;
        const dx = conv2dGradInput(g, wf, x.shape, { padding: PF });
        g.dispose();
        return [dx];
      }),
    dw: () =>
      noGrad(() => {
        const dwf = conv2dGradWeight(x, gy, wf.shape, { padding: PF });
        const dbf = conv2dGradBias(gy);
        const [dw] = wf.node!.backward(dwf);
        const [db] = bf.node!.backward(dbf);
        dwf.dispose();
        dbf.dispose();
        return [dw!, db!];
      }),
  };
}

/** An encoder conv, or a decoder layer (x2 nearest upsampling + conv) where l.up. */
export function convData(l: ConvLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { C, O, H, k, up } = l;
  const Hc = up ? 2 * H : H; // the conv's input side: the upsampled map for the decoder
  const Ho = Hc - k + 1;
  const xShape = [N, C, H, H];
  const wShape = [O, C, k, k];
  const yShape = [N, O, Ho, Ho];
  const io = new Operands(engine, tf, seed);
  const x = io.make(xShape, 'nchw');
  const w = io.make(wShape, 'ockk', 1 / Math.sqrt(C * k * k));
  const b = io.make([O], 'plain', 0.1);
  const dy = io.make(yShape, 'nchw');
  const flops = 2 * N * O * Ho * Ho * C * k * k;
  let ours: Record<'fwd' | 'dx' | 'dw', () => Tensor[]>;
  let shape = `${sh(xShape)} -> ${sh(yShape)}, ${k}x${k}`;
  let executedWork: number | undefined;
  if (up) {
    const f = foldedLayer(io, x.ours, w.ours, b.ours, dy.ours);
    ours = f;
    shape = `${sh(xShape)} -> x2 -> ${sh(yShape)}, ${k}x${k} (ours: ${f.KF}x${f.KF} folded, ${4 * O} ch)`;
    executedWork = 2 * N * (4 * O) * (Ho / 2) * (Ho / 2) * C * f.KF * f.KF;
  } else {
    ours = {
      fwd: () => [conv2dRaw(x.ours, w.ours, b.ours)],
      dx: () => [conv2dGradInput(dy.ours, w.ours, xShape)],
      dw: () => [conv2dGradWeight(x.ours, dy.ours, wShape), conv2dGradBias(dy.ours)],
    };
  }
  let tfOps: Record<'fwd' | 'dx' | 'dw', TfOp> | null = null;
  if (tf) {
    const [tx, tw, tb, tdy] = [x.tf!, w.tf!, b.tf!, dy.tf!];
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC' }; // dimRoundingMode: unset (valid padding, stride 1)
    const kernel = (name: string, inputs: Record<string, TfTensor>, extra: Record<string, unknown>) =>
      tf.engine().runKernel(name, inputs, { ...attrs, ...extra }) as TfTensor;
    const upsample = (t: TfTensor) => tf.image.resizeNearestNeighbor(t as TfTensor4D, [Hc, Hc], false, false);
    // The decoder's weight gradient reads the upsampled input, which tfjs keeps from the forward.
    const convIn = up ? io.own(upsample(tx)) : tx;
    tfOps = {
      fwd: {
        run: () => tf.tidy(() => [tf.fused.conv2d({ x: (up ? upsample(tx) : tx) as TfTensor4D, filter: tw as TfTensor4D, bias: tb, strides: 1, pad: 'valid', dataFormat: 'NHWC' })]),
        toOurs: [nchwFromNhwc(yShape)],
      },
      dx: {
        run: () =>
          tf.tidy(() => {
            const g = kernel('Conv2DBackpropInput', { dy: tdy, filter: tw }, { inputShape: [N, Hc, Hc, C] });
            return [up ? kernel('ResizeNearestNeighborGrad', { images: tx, dy: g }, { alignCorners: false }) : g];
          }),
        toOurs: [nchwFromNhwc(xShape)],
      },
      dw: {
        run: () => [kernel('Conv2DBackpropFilter', { x: convIn, dy: tdy }, { filterShape: [k, k, C, O] }), tf.sum(tdy, [0, 1, 2])],
        toOurs: [ockkFromKkco(wShape), same],
      },
    };
  }
  const base = { layer: l.name, shape, unit: 'GFLOP/s' as const, work: flops, executedWork };
  return {
    cases: (['fwd', 'dx', 'dw'] as const).map((op) => ({ ...base, op, ours: ours[op], tfjs: tfOps?.[op] ?? null })),
    dispose: () => io.dispose(),
  };
}

export function poolData(l: PoolLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { C, H } = l;
  const Ho = Math.floor((H - 2) / 2) + 1;
  const xShape = [N, C, H, H];
  const yShape = [N, C, Ho, Ho];
  const io = new Operands(engine, tf, seed);
  const x = io.make(xShape, 'nchw');
  const dy = io.make(yShape, 'nchw');
  // Training computes the argmax indices in the forward (tfjs recomputes them in its backward).
  const forward = () => {
    const r = maxPool2dRaw(x.ours, {}, true);
    return [r.out, r.indices!];
  };
  const [oy, indices] = forward() as [Tensor, Tensor];
  oy.dispose();
  io.own(indices);
  const bytes = (N * C * H * H + N * C * Ho * Ho) * 4;
  const shape = `${sh(xShape)} -> ${sh(yShape)}, 2x2/2`;
  const pool = (t: TF) => t.maxPool(x.tf as TfTensor4D, 2, 2, 'valid');
  const ty = tf && io.own(pool(tf));
  const grad = (t: TF) =>
    t.engine().runKernel('MaxPoolGrad', { dy: dy.tf!, input: x.tf!, output: ty! }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }) as TfTensor;
  const fwd: TfOp | null = tf && { run: () => [pool(tf)], toOurs: [nchwFromNhwc(yShape)] };
  const bwd: TfOp | null = tf && { run: () => [grad(tf)], toOurs: [nchwFromNhwc(xShape)] };
  const base = { layer: l.name, shape, unit: 'GB/s' as const, work: bytes };
  // PyTorch's rule (the first maximum of a window wins ties), which ours follows; a side with
  // another tie rule differs from it at tied windows only, so the reference counts them.
  // Computed once, on the first disagreement, for both rows.
  let cached: { y: Float32Array; dx: Float32Array; ties: number } | null = null;
  const solve = () => {
    if (cached) return cached;
    const [xd, dyd] = [x.data, dy.data];
    const y = new Float32Array(N * C * Ho * Ho);
    const dx = new Float32Array(N * C * H * H);
    let ties = 0;
    for (let p = 0; p < N * C; p++) {
      for (let oh = 0; oh < Ho; oh++) {
        for (let ow = 0; ow < Ho; ow++) {
          let at = p * H * H + 2 * oh * H + 2 * ow;
          let tied = false;
          for (const d of [1, H, H + 1]) {
            const i = p * H * H + 2 * oh * H + 2 * ow + d;
            if (xd[i]! > xd[at]!) [at, tied] = [i, false];
            else if (xd[i] === xd[at]) tied = true;
          }
          if (tied) ties++;
          const o = (p * Ho + oh) * Ho + ow;
          y[o] = xd[at]!;
          dx[at] = dyd[o]!;
        }
      }
    }
    return (cached = { y, dx, ties });
  };
  const reference = (want: 'fwd' | 'bwd') => () => [solve()[want === 'fwd' ? 'y' : 'dx']];
  const referenceNote = () => `${solve().ties} of ${N * C * Ho * Ho} windows have a tied maximum`;
  return {
    cases: [
      {
        ...base, op: 'fwd', ours: forward, tfjs: fwd,
        reference: reference('fwd'), referenceNote,
      },
      {
        ...base, op: 'bwd', ours: () => [maxPool2dBackward(dy.ours, indices, xShape)], tfjs: bwd,
        reference: reference('bwd'), referenceNote,
      },
    ],
    dispose: () => io.dispose(),
  };
}

/** y = x W^T with W [out, in] (the model's Linear); dx = dy W; dW = dy^T x. Bias add not included. */
export function linearData(l: LinearLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { inF, outF } = l;
  const io = new Operands(engine, tf, seed);
  const x = io.make([N, inF], 'plain');
  const w = io.make([outF, inF], 'plain', 1 / Math.sqrt(inF));
  const dy = io.make([N, outF], 'plain');
  const flops = 2 * N * inF * outF;
  const shape = `${N}x${inF} -> ${N}x${outF}${l.note ? `, ${l.note}` : ''}`;
  const tfOp = (run: (t: TF) => TfTensor): TfOp | null => (tf ? { run: () => [run(tf)], toOurs: [same] } : null);
  const base = { layer: l.name, shape, unit: 'GFLOP/s' as const, work: flops };
  // C[i,j] = sum_k A(i,k) B(k,j) in float64, operands addressed by element accessors.
  const ref = (M: number, Ncol: number, K: number, a: (i: number, k: number) => number, b: (k: number, j: number) => number) => () => {
    const c = new Float32Array(M * Ncol);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < Ncol; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) acc += a(i, k) * b(k, j);
        c[i * Ncol + j] = acc;
      }
    }
    return [c];
  };
  const [xd, wd, dyd] = [x.data, w.data, dy.data];
  return {
    cases: [
      {
        ...base, op: 'fwd', ours: () => [matmulRaw(x.ours, w.ours, { transB: true })], tfjs: tfOp((t) => t.matMul(x.tf!, w.tf!, false, true)),
        reference: ref(N, outF, inF, (n, k) => xd[n * inF + k]!, (k, o) => wd[o * inF + k]!),
      },
      {
        ...base, op: 'dx', ours: () => [matmulRaw(dy.ours, w.ours)], tfjs: tfOp((t) => t.matMul(dy.tf!, w.tf!)),
        reference: ref(N, inF, outF, (n, o) => dyd[n * outF + o]!, (o, i) => wd[o * inF + i]!),
      },
      {
        ...base, op: 'dw', ours: () => [matmulRaw(dy.ours, x.ours, { transA: true })], tfjs: tfOp((t) => t.matMul(dy.tf!, x.tf!, true, false)),
        reference: ref(outF, inF, N, (o, n) => dyd[n * outF + o]!, (n, i) => xd[n * inF + i]!),
      },
    ],
    dispose: () => io.dispose(),
  };
}

