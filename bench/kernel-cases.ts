// The benchmark's operands and rows for every layer of the paper network: its layer list, the
// same random data on every side (tfjs in its NHWC / [kh,kw,C,O] layouts, jax-js in ours), what
// ours, tfjs and jax-js (jax-layers.ts) run for each op, and float64 CPU references where they are cheap. bench/kernels.ts times them.
import type { Tensor as TfTensor, Tensor4D as TfTensor4D } from '@tensorflow/tfjs';
import { Tensor, type Engine } from '../src/node.js';
import { conv2dGradInput, conv2dGradWeightBias, conv2dRaw } from '../src/kernels/conv2d.js';
import { maxPool2dBackward, maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import { foldGeometry, foldUpsampleWeight, upsampleConv2d, upsampleConv2dGradParams, upsampleConv2dStackedGrad } from '../src/kernels/upconv.js';
import { matmulRaw } from '../src/kernels/matmul.js';
import { noGrad } from '../src/autograd/tape.js';
import { getPreset } from '../src/model/presets.js';
import { network, type ConvShape, type LinearShape } from '../src/model/network.js';
import type { TF } from './tfjs.js';
import { jaxArray, type Jax } from './jax.js';
import { jaxConvOps, jaxLinearOps, jaxPoolOps, type JaxOp } from './jax-layers.js';
import { convFlops, convFlopsExecuted } from './dcign-costs.js';
import { Rng } from '../src/data/rng.js';
import { KKCO_TO_OCKK, NCHW_TO_NHWC, NHWC_TO_NCHW, OCKK_TO_KKCO, permute4 } from './peer-data.js';

export type Unit = 'GFLOP/s' | 'GB/s';

// ---- the paper network's layers ----------------------------------------------------------

/**
 * A layer of the paper preset's network (src/model/network.ts) under the bench's short name. A
 * decoder conv (kFolded set) is the layer as a whole: nearest x2 upsampling and then the valid
 * conv, which tfjs runs as the two ops and ours as upsampleConv2d (the conv folded onto the
 * un-upsampled input, then depth-to-space); its H is the upsampled side, as network() gives it.
 */
type ConvLayer = ConvShape & { kind: 'conv' };
type PoolLayer = { kind: 'pool'; name: string; C: number; H: number };
type LinearLayer = LinearShape & { kind: 'linear'; note: string };
type Layer = ConvLayer | PoolLayer | LinearLayer;

/** The layers in network order. */
export function paperLayers(): Layer[] {
  const net = network(getPreset('paper'));
  const short = (name: string) => name.replace('encoder.', '').replace('decoder.conv', 'dec');
  const conv = (l: ConvShape): ConvLayer => ({ ...l, kind: 'conv', name: short(l.name) });
  const [mu, , fc] = net.linears;
  return [
    ...net.convs.filter((l) => l.kFolded === null).flatMap((l): Layer[] => [conv(l), { kind: 'pool', name: short(l.name).replace('conv', 'pool'), C: l.O, H: l.Ho }]),
    { ...mu!, kind: 'linear', name: 'enc_fc', note: 'per head (mu, logvar)' },
    { ...fc!, kind: 'linear', name: 'dec_fc', note: '' },
    ...net.convs.filter((l) => l.kFolded !== null).map(conv),
  ];
}

export const LAYER_NAMES = paperLayers().map((l) => l.name);

// ---- data --------------------------------------------------------------------------------

/** tfjs's output in layout NHWC (or [kh,kw,C,O]) of the given NCHW (or [O,C,kh,kw]) shape, back in ours. */
const nchwFromNhwc = ([N, C, H, W]: readonly number[]) => (d: Float32Array) => permute4(d, [N!, H!, W!, C!], NHWC_TO_NCHW);
const ockkFromKkco = ([O, C, kh, kw]: readonly number[]) => (d: Float32Array) => permute4(d, [kh!, kw!, C!, O!], KKCO_TO_OCKK);
const same = (d: Float32Array) => d;

/** tfjs's side of a row: run() returns its outputs; toOurs[i] maps output i's values into our layout. */
export interface TfOp {
  run: () => TfTensor[];
  toOurs: ((data: Float32Array) => Float32Array)[];
}

/** A layer's operands, the same random values on every side; everything made is disposed together. */
export class Operands {
  private readonly made: { dispose(): void }[] = [];
  constructor(private readonly engine: Engine, readonly tf: TF | null, readonly jax: Jax | null, private seed: number) {}
  /**
   * Uniform values in [-scale, scale), a new seed each call: ours, tfjs's copy (null without
   * tfjs) with 4-D activations in NHWC ('nchw'), conv weights as [kh,kw,C,O] ('ockk'), anything
   * else as it is ('plain'), and jax-js's copy in our layout (null without jax-js).
   */
  make(shape: readonly number[], layout: 'nchw' | 'ockk' | 'plain', scale = 1) {
    const rng = Rng.fromSeed(this.seed++);
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1)).map(() => rng.range(-scale, scale));
    const ours = this.own(Tensor.fromData(data, shape, 'f32', this.engine));
    const perm = layout === 'nchw' ? NCHW_TO_NHWC : layout === 'ockk' ? OCKK_TO_KKCO : null;
    const tf = this.tf && this.own(perm ? this.tf.tensor(permute4(data, shape, perm), perm.map((p) => shape[p]!)) : this.tf.tensor(data, [...shape]));
    const jax = this.jax && this.own(jaxArray(this.jax, data, shape));
    return { data, ours, tf, jax };
  }
  /** A row's tfjs op; null without tfjs. */
  op(run: (tf: TF) => TfTensor[], toOurs: TfOp['toOurs']): TfOp | null {
    const tf = this.tf;
    return tf && { run: () => run(tf), toOurs };
  }
  /** A row's jax-js op; null without jax-js. */
  jaxOps<K extends string>(make: (jax: Jax) => Record<K, JaxOp>): Record<K, JaxOp> | null {
    if (!this.jax) return null;
    const ops = make(this.jax);
    for (const op of Object.values<JaxOp>(ops)) this.own(op);
    return ops;
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
  /** jax-js's outputs, in our layouts; null without jax-js. */
  jax: JaxOp | null;
  /** A float64 CPU result in our layout, where cheap: consulted when ours and tfjs disagree. */
  reference?: () => Float32Array[];
  /** Said beside the reference's verdict, after reference() ran. */
  referenceNote?: () => string;
}

/** The rows of one layer, on operands made in io. */
export function layerCases(layer: Layer, N: number, io: Operands): Case[] {
  return layer.kind === 'conv' ? convCases(layer, N, io) : layer.kind === 'pool' ? poolCases(layer, N, io) : linearCases(layer, N, io);
}

const sh = (s: readonly number[]) => s.join('x');

/**
 * Our decoder layer as training runs it (without the activation, as tfjs's rows): the weight fold,
 * then one convolution whose store interleaves the parities into the output. The dw row starts
 * from the stacked gradient made once here: the dx row pays for unstacking it, which training
 * runs once for both.
 */
function foldedLayer(io: Operands, x: Tensor, w: Tensor, b: Tensor, dy: Tensor): Record<'fwd' | 'dx' | 'dw', () => Tensor[]> {
  const { PF } = foldGeometry('kernels bench', w);
  const wf = io.own(noGrad(() => foldUpsampleWeight(w)));
  const out = io.own(noGrad(() => upsampleConv2d(x, w, b)));
  const [N, O, H2, W2] = out.shape as [number, number, number, number];
  const stacked = () => upsampleConv2dStackedGrad(dy, N, O, H2 / 2, W2 / 2);
  const gy = io.own(noGrad(stacked));
  return {
    fwd: () => [noGrad(() => upsampleConv2d(x, w, b))],
    dx: () =>
      noGrad(() => {
        const g = stacked();
        const dx = conv2dGradInput(g, wf, x.shape, { padding: PF });
        g.dispose();
        return [dx];
      }),
    dw: () =>
      noGrad(() => {
        const { w: dw, bias: db } = upsampleConv2dGradParams(x, gy, w, b);
        return [dw, db!];
      }),
  };
}

/** An encoder conv, or a decoder layer (x2 nearest upsampling + conv). */
function convCases(l: ConvLayer, N: number, io: Operands): Case[] {
  const { C, O, H, k, Ho, kFolded } = l;
  const up = kFolded !== null;
  const Hx = up ? H / 2 : H; // the layer's input side: before the upsampling in the decoder
  const xShape = [N, C, Hx, Hx];
  const wShape = [O, C, k, k];
  const yShape = [N, O, Ho, Ho];
  const x = io.make(xShape, 'nchw');
  const w = io.make(wShape, 'ockk', 1 / Math.sqrt(C * k * k));
  const b = io.make([O], 'plain', 0.1);
  const dy = io.make(yShape, 'nchw');
  const ours = up
    ? foldedLayer(io, x.ours, w.ours, b.ours, dy.ours)
    : {
        fwd: () => [conv2dRaw(x.ours, w.ours, b.ours)],
        dx: () => [conv2dGradInput(dy.ours, w.ours, xShape)],
        dw: () => {
          const { dw, db } = conv2dGradWeightBias(x.ours, dy.ours, wShape);
          return [dw, db];
        },
      };
  const [tx, tw, tb, tdy] = [x.tf!, w.tf!, b.tf!, dy.tf!];
  // dimRoundingMode unset: valid padding, stride 1.
  const kernel = (tf: TF, name: string, inputs: Record<string, TfTensor>, extra: Record<string, unknown>) =>
    tf.engine().runKernel(name, inputs, { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC', ...extra }) as TfTensor;
  const upsample = (tf: TF) => tf.image.resizeNearestNeighbor(tx as TfTensor4D, [H, H], false, false);
  // The decoder's weight gradient reads the upsampled input, which tfjs keeps from the forward.
  const convIn = up && io.tf ? io.own(upsample(io.tf)) : tx;
  const tfjs = {
    fwd: io.op(
      (tf) => tf.tidy(() => [tf.fused.conv2d({ x: (up ? upsample(tf) : tx) as TfTensor4D, filter: tw as TfTensor4D, bias: tb, strides: 1, pad: 'valid', dataFormat: 'NHWC' })]),
      [nchwFromNhwc(yShape)],
    ),
    dx: io.op(
      (tf) =>
        tf.tidy(() => {
          const g = kernel(tf, 'Conv2DBackpropInput', { dy: tdy, filter: tw }, { inputShape: [N, H, H, C] });
          return [up ? kernel(tf, 'ResizeNearestNeighborGrad', { images: tx, dy: g }, { alignCorners: false }) : g];
        }),
      [nchwFromNhwc(xShape)],
    ),
    dw: io.op((tf) => [kernel(tf, 'Conv2DBackpropFilter', { x: convIn, dy: tdy }, { filterShape: [k, k, C, O] }), tf.sum(tdy, [0, 1, 2])], [ockkFromKkco(wShape), same]),
  };
  const jax = io.jaxOps((jax) => jaxConvOps(jax, up, x.jax!, w.jax!, b.jax!, dy.jax!));
  const shape = `${sh(xShape)} -> ${up ? 'x2 -> ' : ''}${sh(yShape)}, ${k}x${k}${up ? ` (ours: ${kFolded}x${kFolded} folded, ${4 * O} ch)` : ''}`;
  const base = { layer: l.name, shape, unit: 'GFLOP/s' as const, work: convFlops(l, N), executedWork: convFlopsExecuted(l, N) };
  return (['fwd', 'dx', 'dw'] as const).map((op) => ({ ...base, op, ours: ours[op], tfjs: tfjs[op], jax: jax?.[op] ?? null }));
}

function poolCases(l: PoolLayer, N: number, io: Operands): Case[] {
  const { C, H } = l;
  const Ho = Math.floor((H - 2) / 2) + 1;
  const xShape = [N, C, H, H];
  const yShape = [N, C, Ho, Ho];
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
  const pool = (tf: TF) => tf.maxPool(x.tf as TfTensor4D, 2, 2, 'valid');
  const ty = io.tf && io.own(pool(io.tf));
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
  const base = {
    layer: l.name, shape: `${sh(xShape)} -> ${sh(yShape)}, 2x2/2`, unit: 'GB/s' as const, work: (N * C * H * H + N * C * Ho * Ho) * 4,
    referenceNote: () => `${solve().ties} of ${N * C * Ho * Ho} windows have a tied maximum`,
  };
  const jax = io.jaxOps((jax) => jaxPoolOps(jax, x.jax!, dy.jax!));
  const maxPoolGrad = (tf: TF) =>
    tf.engine().runKernel('MaxPoolGrad', { dy: dy.tf!, input: x.tf!, output: ty! }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }) as TfTensor;
  return [
    { ...base, op: 'fwd', ours: forward, tfjs: io.op((tf) => [pool(tf)], [nchwFromNhwc(yShape)]), jax: jax?.fwd ?? null, reference: () => [solve().y] },
    {
      ...base, op: 'bwd', ours: () => [maxPool2dBackward(dy.ours, indices, xShape)], tfjs: io.op((tf) => [maxPoolGrad(tf)], [nchwFromNhwc(xShape)]),
      jax: jax?.bwd ?? null, reference: () => [solve().dx],
    },
  ];
}

/** y = x W^T with W [out, in] (the model's Linear); dx = dy W; dW = dy^T x. Bias add not included. */
function linearCases(l: LinearLayer, N: number, io: Operands): Case[] {
  const { inF, outF } = l;
  const x = io.make([N, inF], 'plain');
  const w = io.make([outF, inF], 'plain', 1 / Math.sqrt(inF));
  const dy = io.make([N, outF], 'plain');
  const base = { layer: l.name, shape: `${N}x${inF} -> ${N}x${outF}${l.note ? `, ${l.note}` : ''}`, unit: 'GFLOP/s' as const, work: 2 * N * inF * outF };
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
  const jax = io.jaxOps((jax) => jaxLinearOps(jax, x.jax!, w.jax!, dy.jax!));
  return [
    {
      ...base, op: 'fwd', ours: () => [matmulRaw(x.ours, w.ours, { transB: true })], tfjs: io.op((tf) => [tf.matMul(x.tf!, w.tf!, false, true)], [same]), jax: jax?.fwd ?? null,
      reference: ref(N, outF, inF, (n, k) => xd[n * inF + k]!, (k, o) => wd[o * inF + k]!),
    },
    {
      ...base, op: 'dx', ours: () => [matmulRaw(dy.ours, w.ours)], tfjs: io.op((tf) => [tf.matMul(dy.tf!, w.tf!)], [same]), jax: jax?.dx ?? null,
      reference: ref(N, inF, outF, (n, o) => dyd[n * outF + o]!, (o, i) => wd[o * inF + i]!),
    },
    {
      ...base, op: 'dw', ours: () => [matmulRaw(dy.ours, x.ours, { transA: true })], tfjs: io.op((tf) => [tf.matMul(dy.tf!, x.tf!, true, false)], [same]), jax: jax?.dw ?? null,
      reference: ref(outF, inF, N, (o, n) => dyd[n * outF + o]!, (n, i) => xd[n * inF + i]!),
    },
  ];
}
