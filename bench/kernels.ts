// Every DC-IGN layer at the paper's shapes (the `paper` preset, 150x150x1 input): forward and
// both gradients, ours vs tfjs-backend-webgpu on the same adapter. Both sides get the same data
// (tfjs in its NHWC / [kh,kw,C,O] layouts); the first run of each row also compares the two
// results, so a mis-posed tfjs call or a wrong kernel shows up as a check failure, not a timing.
//
// Timing: each op is recorded and then waited for on the GPU, without reading results back (ours:
// engine.sync(); tfjs: backend.submitQueue() then queue.onSubmittedWorkDone()), so neither side
// pays a readback the other does not. Median over the timed runs after one warm-up run.
import { Tensor, type Engine } from '../src/node.js';
import { conv2dGradBias, conv2dGradInput, conv2dGradWeight, conv2dRaw } from '../src/kernels/conv2d.js';
import { maxPool2dBackward, maxPool2dRaw } from '../src/kernels/maxpool2d.js';
import { upsampleNearest, upsampleNearestBackward } from '../src/kernels/upsample.js';
import { matmulRaw } from '../src/kernels/matmul.js';
import { noGrad } from '../src/autograd/tape.js';
import { getPreset, shapesOf } from '../src/model/presets.js';
import { loadTfjs, type TF } from './tfjs.js';
import { table, timeIt, type Timing } from './timing.js';

type TfTensor = import('@tensorflow/tfjs').Tensor;
type Unit = 'GFLOP/s' | 'GB/s';

export interface KernelsOptions {
  /** Images per batch. Default: 20 (the paper's) on hardware, 4 on a software adapter. */
  batch?: number;
  /** Only these layers (names as in LAYER_NAMES). */
  layers?: string[];
  /** Time tfjs-backend-webgpu too. Default true. */
  tfjs?: boolean;
  /** Compare ours with tfjs on the first run of each row. Default true (needs tfjs). */
  check?: boolean;
  /** Progress lines while measuring (one per row). */
  log?: (line: string) => void;
}

export interface KernelRow {
  layer: string;
  /** fwd, dx, dw (weight and bias gradient together), or bwd for pooling and upsampling. */
  op: string;
  shape: string;
  batch: number;
  unit: Unit;
  /** FLOPs (GFLOP/s rows) or nominal bytes moved: input + output elements x 4 (GB/s rows). */
  work: number;
  oursMs: number | null;
  oursRate: number | null;
  /** Timed runs; 0 when the time is the single warm-up run's (a run over 20 s, compilation included). */
  oursIters: number;
  oursError?: string;
  tfjsMs: number | null;
  tfjsRate: number | null;
  tfjsIters: number;
  tfjsError?: string;
  /** tfjs ms / ours ms: above 1, ours is faster. */
  ratio: number | null;
  /** Largest |ours - tfjs| over the largest |tfjs|, over every output of the row. */
  maxRelDiff: number | null;
  /** When ours and tfjs disagree and a CPU reference is cheap: each side's difference from it. */
  oursRefDiff?: number;
  tfjsRefDiff?: number;
}

export type KernelsResult = {
  batch: number;
  batchNote: string;
  rows: KernelRow[];
  text: string;
};

/** A relative difference above this marks the row's check as failed. */
const CHECK_TOLERANCE = 1e-3;

// ---- the paper network's layers ----------------------------------------------------------

interface ConvLayer {
  kind: 'conv';
  name: string;
  C: number;
  O: number;
  H: number;
  k: number;
}
interface PoolLayer {
  kind: 'pool';
  name: string;
  C: number;
  H: number;
}
interface UpLayer {
  kind: 'up';
  name: string;
  C: number;
  H: number;
}
interface LinearLayer {
  kind: 'linear';
  name: string;
  inF: number;
  outF: number;
  note: string;
}
type Layer = ConvLayer | PoolLayer | UpLayer | LinearLayer;

/** The layers in network order, sizes derived from the `paper` preset. */
export function paperLayers(): Layer[] {
  const c = getPreset('paper');
  const s = shapesOf(c);
  const ek = c.encoderKernel;
  const dk = c.decoderKernel;
  const out: Layer[] = [];
  let ch = 1;
  let size = c.imageSize;
  for (let i = 0; i < 3; i++) {
    const O = c.encoderMaps[i]!;
    out.push({ kind: 'conv', name: `conv${i + 1}`, C: ch, O, H: size, k: ek });
    size = size - ek + 1;
    out.push({ kind: 'pool', name: `pool${i + 1}`, C: O, H: size });
    size = Math.floor(size / 2);
    ch = O;
  }
  if (size !== s.encoder[3] || ch * size * size !== s.flat) throw new Error('kernels bench: encoder shapes disagree with the preset');
  out.push({ kind: 'linear', name: 'enc_fc', inF: s.flat, outF: c.latents, note: 'per head (mu, logvar)' });
  const [bc, bs] = c.decoderBase;
  out.push({ kind: 'linear', name: 'dec_fc', inF: c.latents, outF: bc * bs * bs, note: '' });
  ch = bc;
  size = bs;
  for (let i = 0; i < 4; i++) {
    out.push({ kind: 'up', name: `up${i + 1}`, C: ch, H: size });
    size *= 2;
    const O = c.decoderMaps[i]!;
    out.push({ kind: 'conv', name: `dconv${i + 1}`, C: ch, O, H: size, k: dk });
    size = size - dk + 1;
    ch = O;
  }
  if (size !== c.imageSize) throw new Error('kernels bench: decoder shapes disagree with the preset');
  return out;
}

export const LAYER_NAMES = paperLayers().map((l) => l.name);

/** Software adapters (lavapipe's llvmpipe, SwiftShader) get a smaller default batch. */
export function isSoftwareAdapter(engine: Engine): boolean {
  return /llvmpipe|lavapipe|swiftshader|software/i.test(engine.report);
}

// ---- data --------------------------------------------------------------------------------

/** Deterministic uniform values in [-scale, scale) (xorshift32), shared by both sides. */
function randomData(n: number, seed: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * scale;
  }
  return out;
}

/** Transposes a 4-D array: output axis k is input axis perm[k]. */
function permute4(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const [d0, d1, d2, d3] = perm.map((p) => shape[p]!) as [number, number, number, number];
  const stride = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const [s0, s1, s2, s3] = perm.map((p) => stride[p]!) as [number, number, number, number];
  const out = new Float32Array(src.length);
  let o = 0;
  for (let a = 0; a < d0; a++) {
    for (let b = 0; b < d1; b++) {
      for (let c = 0; c < d2; c++) {
        const base = a * s0 + b * s1 + c * s2;
        for (let d = 0; d < d3; d++) out[o++] = src[base + d * s3]!;
      }
    }
  }
  return out;
}

const NCHW_TO_NHWC = [0, 2, 3, 1];
const NHWC_TO_NCHW = [0, 3, 1, 2];
const OCKK_TO_KKCO = [2, 3, 1, 0];
const KKCO_TO_OCKK = [3, 2, 0, 1];

function maxRelDiff(ours: Float32Array, ref: Float32Array): number {
  if (ours.length !== ref.length) return Infinity;
  let diff = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (!(d <= diff)) diff = d; // NaN propagates as a failure
    const m = Math.abs(ref[i]!);
    if (m > mag) mag = m;
  }
  return mag > 0 ? diff / mag : diff;
}

// ---- one row per op ----------------------------------------------------------------------

/** Ours: run() records the op and returns its outputs (in our layouts). */
interface OursOp {
  run: () => Tensor[];
}
/** tfjs: run() returns its outputs; toOurs maps output i's values into our layout. */
interface TfOp {
  run: () => TfTensor[];
  toOurs: (i: number, data: Float32Array) => Float32Array;
}

interface Case {
  layer: string;
  op: string;
  shape: string;
  unit: Unit;
  work: number;
  ours: OursOp;
  tfjs: TfOp | null;
  /** A float64 CPU result in our layout, where cheap: consulted when ours and tfjs disagree. */
  reference?: () => Float32Array[];
}

interface LayerData {
  cases: Case[];
  dispose: () => void;
}

const sh = (s: readonly number[]) => s.join('x');

function convData(l: ConvLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { C, O, H, k } = l;
  const Ho = H - k + 1;
  const xShape = [N, C, H, H];
  const wShape = [O, C, k, k];
  const yShape = [N, O, Ho, Ho];
  const x = randomData(N * C * H * H, seed);
  const w = randomData(O * C * k * k, seed + 1, 1 / Math.sqrt(C * k * k));
  const b = randomData(O, seed + 2, 0.1);
  const dy = randomData(N * O * Ho * Ho, seed + 3);
  const ox = Tensor.fromData(x, xShape, 'f32', engine);
  const ow = Tensor.fromData(w, wShape, 'f32', engine);
  const ob = Tensor.fromData(b, [O], 'f32', engine);
  const ody = Tensor.fromData(dy, yShape, 'f32', engine);
  const flops = 2 * N * O * Ho * Ho * C * k * k;
  const shape = `${sh(xShape)} -> ${sh(yShape)}, ${k}x${k}`;
  let tfs: TfTensor[] = [];
  let tfOps: Record<'fwd' | 'dx' | 'dw', TfOp> | null = null;
  if (tf) {
    const tx = tf.tensor4d(permute4(x, xShape, NCHW_TO_NHWC), [N, H, H, C]);
    const tw = tf.tensor4d(permute4(w, wShape, OCKK_TO_KKCO), [k, k, C, O]);
    const tb = tf.tensor1d(b);
    const tdy = tf.tensor4d(permute4(dy, yShape, NCHW_TO_NHWC), [N, Ho, Ho, O]);
    tfs = [tx, tw, tb, tdy];
    const attrs = { strides: [1, 1], pad: 'valid', dataFormat: 'NHWC' }; // dimRoundingMode: unset (valid padding, stride 1)
    const fromNhwc = (shape: number[]) => (_: number, d: Float32Array) => permute4(d, shape, NHWC_TO_NCHW);
    tfOps = {
      fwd: {
        run: () => [tf.fused.conv2d({ x: tx, filter: tw, bias: tb, strides: 1, pad: 'valid', dataFormat: 'NHWC' })],
        toOurs: fromNhwc([N, Ho, Ho, O]),
      },
      dx: {
        run: () => [tf.engine().runKernel('Conv2DBackpropInput', { dy: tdy, filter: tw }, { ...attrs, inputShape: [N, H, H, C] }) as TfTensor],
        toOurs: fromNhwc([N, H, H, C]),
      },
      dw: {
        run: () => [
          tf.engine().runKernel('Conv2DBackpropFilter', { x: tx, dy: tdy }, { ...attrs, filterShape: [k, k, C, O] }) as TfTensor,
          tf.sum(tdy, [0, 1, 2]),
        ],
        toOurs: (i, d) => (i === 0 ? permute4(d, [k, k, C, O], KKCO_TO_OCKK) : d),
      },
    };
  }
  const base = { layer: l.name, shape, unit: 'GFLOP/s' as const, work: flops };
  return {
    cases: [
      { ...base, op: 'fwd', ours: { run: () => [conv2dRaw(ox, ow, ob)] }, tfjs: tfOps?.fwd ?? null },
      { ...base, op: 'dx', ours: { run: () => [conv2dGradInput(ody, ow, xShape)] }, tfjs: tfOps?.dx ?? null },
      { ...base, op: 'dw', ours: { run: () => [conv2dGradWeight(ox, ody, wShape), conv2dGradBias(ody)] }, tfjs: tfOps?.dw ?? null },
    ],
    dispose: () => {
      for (const t of [ox, ow, ob, ody]) t.dispose();
      for (const t of tfs) t.dispose();
    },
  };
}

function poolData(l: PoolLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { C, H } = l;
  const Ho = Math.floor((H - 2) / 2) + 1;
  const xShape = [N, C, H, H];
  const yShape = [N, C, Ho, Ho];
  const x = randomData(N * C * H * H, seed);
  const dy = randomData(N * C * Ho * Ho, seed + 1);
  const ox = Tensor.fromData(x, xShape, 'f32', engine);
  const ody = Tensor.fromData(dy, yShape, 'f32', engine);
  const { out: oy, indices } = maxPool2dRaw(ox, {}, true);
  oy.dispose();
  const bytes = (N * C * H * H + N * C * Ho * Ho) * 4;
  const shape = `${sh(xShape)} -> ${sh(yShape)}, 2x2/2`;
  let tfs: TfTensor[] = [];
  let fwd: TfOp | null = null;
  let bwd: TfOp | null = null;
  if (tf) {
    const tx = tf.tensor4d(permute4(x, xShape, NCHW_TO_NHWC), [N, H, H, C]);
    const tdy = tf.tensor4d(permute4(dy, yShape, NCHW_TO_NHWC), [N, Ho, Ho, C]);
    const ty = tf.maxPool(tx, 2, 2, 'valid');
    tfs = [tx, tdy, ty];
    fwd = { run: () => [tf.maxPool(tx, 2, 2, 'valid')], toOurs: (_, d) => permute4(d, [N, Ho, Ho, C], NHWC_TO_NCHW) };
    bwd = {
      run: () => [
        tf.engine().runKernel('MaxPoolGrad', { dy: tdy, input: tx, output: ty }, { filterSize: [2, 2], strides: [2, 2], pad: 'valid' }) as TfTensor,
      ],
      toOurs: (_, d) => permute4(d, [N, H, H, C], NHWC_TO_NCHW),
    };
  }
  const base = { layer: l.name, shape, unit: 'GB/s' as const, work: bytes };
  return {
    cases: [
      // Training computes the argmax indices in the forward (tfjs recomputes them in its backward).
      {
        ...base,
        op: 'fwd',
        ours: {
          run: () => {
            const r = maxPool2dRaw(ox, {}, true);
            return [r.out, r.indices!];
          },
        },
        tfjs: fwd,
      },
      { ...base, op: 'bwd', ours: { run: () => [maxPool2dBackward(ody, indices!, xShape)] }, tfjs: bwd },
    ],
    dispose: () => {
      for (const t of [ox, ody, indices!]) t.dispose();
      for (const t of tfs) t.dispose();
    },
  };
}

function upData(l: UpLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { C, H } = l;
  const H2 = 2 * H;
  const xShape = [N, C, H, H];
  const yShape = [N, C, H2, H2];
  const x = randomData(N * C * H * H, seed);
  const dy = randomData(N * C * H2 * H2, seed + 1);
  const ox = Tensor.fromData(x, xShape, 'f32', engine);
  const ody = Tensor.fromData(dy, yShape, 'f32', engine);
  const bytes = (N * C * H * H + N * C * H2 * H2) * 4;
  const shape = `${sh(xShape)} -> ${sh(yShape)}, x2`;
  let tfs: TfTensor[] = [];
  let fwd: TfOp | null = null;
  let bwd: TfOp | null = null;
  if (tf) {
    const tx = tf.tensor4d(permute4(x, xShape, NCHW_TO_NHWC), [N, H, H, C]);
    const tdy = tf.tensor4d(permute4(dy, yShape, NCHW_TO_NHWC), [N, H2, H2, C]);
    tfs = [tx, tdy];
    fwd = { run: () => [tf.image.resizeNearestNeighbor(tx, [H2, H2], false, false)], toOurs: (_, d) => permute4(d, [N, H2, H2, C], NHWC_TO_NCHW) };
    bwd = {
      run: () => [tf.engine().runKernel('ResizeNearestNeighborGrad', { images: tx, dy: tdy }, { alignCorners: false }) as TfTensor],
      toOurs: (_, d) => permute4(d, [N, H, H, C], NHWC_TO_NCHW),
    };
  }
  const base = { layer: l.name, shape, unit: 'GB/s' as const, work: bytes };
  return {
    cases: [
      { ...base, op: 'fwd', ours: { run: () => [noGrad(() => upsampleNearest(ox, 2))] }, tfjs: fwd },
      { ...base, op: 'bwd', ours: { run: () => [upsampleNearestBackward(ody, 2)] }, tfjs: bwd },
    ],
    dispose: () => {
      for (const t of [ox, ody]) t.dispose();
      for (const t of tfs) t.dispose();
    },
  };
}

/** y = x W^T with W [out, in] (the model's Linear); dx = dy W; dW = dy^T x. Bias add not included. */
function linearData(l: LinearLayer, N: number, engine: Engine, tf: TF | null, seed: number): LayerData {
  const { inF, outF } = l;
  const x = randomData(N * inF, seed);
  const w = randomData(outF * inF, seed + 1, 1 / Math.sqrt(inF));
  const dy = randomData(N * outF, seed + 2);
  const ox = Tensor.fromData(x, [N, inF], 'f32', engine);
  const ow = Tensor.fromData(w, [outF, inF], 'f32', engine);
  const ody = Tensor.fromData(dy, [N, outF], 'f32', engine);
  const flops = 2 * N * inF * outF;
  const shape = `${N}x${inF} -> ${N}x${outF}${l.note ? `, ${l.note}` : ''}`;
  let tfs: TfTensor[] = [];
  let ops: Record<'fwd' | 'dx' | 'dw', TfOp> | null = null;
  if (tf) {
    const tx = tf.tensor2d(x, [N, inF]);
    const tw = tf.tensor2d(w, [outF, inF]);
    const tdy = tf.tensor2d(dy, [N, outF]);
    tfs = [tx, tw, tdy];
    const same = (_: number, d: Float32Array) => d;
    ops = {
      fwd: { run: () => [tf.matMul(tx, tw, false, true)], toOurs: same },
      dx: { run: () => [tf.matMul(tdy, tw)], toOurs: same },
      dw: { run: () => [tf.matMul(tdy, tx, true, false)], toOurs: same },
    };
  }
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
  return {
    cases: [
      {
        ...base, op: 'fwd', ours: { run: () => [matmulRaw(ox, ow, { transB: true })] }, tfjs: ops?.fwd ?? null,
        reference: ref(N, outF, inF, (n, k) => x[n * inF + k]!, (k, o) => w[o * inF + k]!),
      },
      {
        ...base, op: 'dx', ours: { run: () => [matmulRaw(ody, ow)] }, tfjs: ops?.dx ?? null,
        reference: ref(N, inF, outF, (n, o) => dy[n * outF + o]!, (o, i) => w[o * inF + i]!),
      },
      {
        ...base, op: 'dw', ours: { run: () => [matmulRaw(ody, ox, { transA: true })] }, tfjs: ops?.dw ?? null,
        reference: ref(outF, inF, N, (o, n) => dy[n * outF + o]!, (n, i) => x[n * inF + i]!),
      },
    ],
    dispose: () => {
      for (const t of [ox, ow, ody]) t.dispose();
      for (const t of tfs) t.dispose();
    },
  };
}

// ---- timing ------------------------------------------------------------------------------

/** Fewer timed runs for heavy rows, judged by the warm-up run (which includes compilation). */
function timingFor(warmMs: number): { minIters: number; maxIters: number; minMs: number } {
  if (warmMs > 8000) return { minIters: 1, maxIters: 1, minMs: 0 };
  if (warmMs > 2500) return { minIters: 2, maxIters: 2, minMs: 0 };
  if (warmMs > 300) return { minIters: 3, maxIters: 3, minMs: 0 };
  return { minIters: 3, maxIters: 30, minMs: 400 };
}

/** A warm-up this long is itself the measurement: compilation is then a negligible part of it. */
const SINGLE_RUN_MS = 20000;

interface Measured {
  t: Timing;
  data: Float32Array[] | null;
  /** The time is the warm-up run's (first run, compilation included). */
  warmupOnly: boolean;
}

/**
 * One warm-up run (compiles; its outputs, read back after the timing point, feed the check), then
 * timed runs of start + finish with every output disposed.
 */
async function measure<T>(
  start: () => T[],
  finish: () => Promise<void>,
  read: (outs: T[]) => Promise<Float32Array[]>,
  dispose: (t: T) => void,
  wantData: boolean,
): Promise<Measured> {
  const t0 = performance.now();
  const outs = start();
  await finish();
  const warm = performance.now() - t0;
  const data = wantData ? await read(outs) : null;
  for (const o of outs) dispose(o);
  if (warm > SINGLE_RUN_MS) return { t: { ms: warm, iterations: 1 }, data, warmupOnly: true };
  const t = await timeIt(
    async () => {
      for (const o of start()) dispose(o);
      await finish();
    },
    { warmup: 0, ...timingFor(warm) },
  );
  return { t, data, warmupOnly: false };
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 160);

function measureOurs(engine: Engine, op: OursOp, wantData: boolean): Promise<Measured> {
  return measure(
    op.run,
    () => engine.sync(),
    (outs) => Promise.all(outs.map(async (o) => (o.dtype === 'f32' ? ((await o.read()) as Float32Array) : new Float32Array(0)))),
    (o) => o.dispose(),
    wantData,
  );
}

interface TfBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

async function measureTfjs(tf: TF, op: TfOp, wantData: boolean): Promise<Measured> {
  const backend = tf.backend() as unknown as TfBackend;
  const device = backend.device;
  // What the backend's own readback does before its copy, minus the copy.
  const fence = async () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
    await device.queue.onSubmittedWorkDone();
  };
  // Errors Dawn reports asynchronously (a binding over the limit, an allocation failure) would
  // otherwise only be logged while the timing carried on with garbage.
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: Measured | null = null;
  let thrown: unknown = null;
  try {
    result = await measure(
      op.run,
      fence,
      (outs) => Promise.all(outs.map(async (o, i) => op.toOurs(i, (await o.data()) as Float32Array))),
      (o) => o.dispose(),
      wantData,
    );
  } catch (e) {
    thrown = e;
  }
  const validation = await device.popErrorScope();
  const oom = await device.popErrorScope();
  const gpuError = validation ?? oom;
  if (gpuError) throw new Error(`GPU ${validation ? 'validation' : 'out-of-memory'} error: ${gpuError.message}`);
  if (thrown) throw thrown;
  return result!;
}

// ---- the bench ---------------------------------------------------------------------------

export async function benchKernels(engine: Engine, opts: KernelsOptions = {}): Promise<KernelsResult> {
  const software = isSoftwareAdapter(engine);
  const batch = opts.batch ?? (software ? 4 : 20);
  const batchNote =
    opts.batch !== undefined
      ? `batch ${batch} (--batch)`
      : software
        ? `batch ${batch} (default on a software adapter; the paper's batch is 20: --batch 20)`
        : `batch ${batch} (the paper's batch; default on a hardware adapter)`;
  const log = opts.log ?? (() => {});
  const all = paperLayers();
  if (opts.layers) {
    const unknown = opts.layers.filter((n) => !LAYER_NAMES.includes(n));
    if (unknown.length) throw new Error(`unknown layer(s) ${unknown.join(', ')}; choose from ${LAYER_NAMES.join(', ')}`);
  }
  const layers = opts.layers ? all.filter((l) => opts.layers!.includes(l.name)) : all;
  const tf = opts.tfjs === false ? null : await loadTfjs();
  const check = (opts.check ?? true) && tf !== null;
  log(`kernels: ${batchNote}; layers ${layers.map((l) => l.name).join(' ')}${tf ? '' : '; tfjs off'}`);

  const rows: KernelRow[] = [];
  let seed = 1;
  for (const layer of layers) {
    seed += 10;
    const data =
      layer.kind === 'conv'
        ? convData(layer, batch, engine, tf, seed)
        : layer.kind === 'pool'
          ? poolData(layer, batch, engine, tf, seed)
          : layer.kind === 'up'
            ? upData(layer, batch, engine, tf, seed)
            : linearData(layer, batch, engine, tf, seed);
    await engine.sync();
    try {
      for (const c of data.cases) {
        const row: KernelRow = {
          layer: c.layer, op: c.op, shape: c.shape, batch, unit: c.unit, work: c.work,
          oursMs: null, oursRate: null, oursIters: 0, tfjsMs: null, tfjsRate: null, tfjsIters: 0, ratio: null, maxRelDiff: null,
        };
        let ours: Float32Array[] | null = null;
        try {
          const r = await measureOurs(engine, c.ours, check);
          row.oursMs = r.t.ms;
          row.oursIters = r.warmupOnly ? 0 : r.t.iterations;
          row.oursRate = c.work / r.t.ms / 1e6;
          ours = r.data;
        } catch (e) {
          row.oursError = errText(e);
        }
        if (tf && c.tfjs) {
          try {
            const r = await measureTfjs(tf, c.tfjs, check);
            row.tfjsMs = r.t.ms;
            row.tfjsIters = r.warmupOnly ? 0 : r.t.iterations;
            row.tfjsRate = c.work / r.t.ms / 1e6;
            if (ours && r.data) {
              // Our pooling forward also returns the u32 argmax indices: compare values only.
              row.maxRelDiff = Math.max(...r.data.map((ref, i) => maxRelDiff(ours![i]!, ref)));
              if (!(row.maxRelDiff <= CHECK_TOLERANCE) && c.reference) {
                const ref = c.reference();
                row.oursRefDiff = Math.max(...ref.map((v, i) => maxRelDiff(ours![i]!, v)));
                row.tfjsRefDiff = Math.max(...ref.map((v, i) => maxRelDiff(r.data![i]!, v)));
              }
            }
          } catch (e) {
            row.tfjsError = errText(e);
          }
        }
        if (row.oursMs && row.tfjsMs) row.ratio = row.tfjsMs / row.oursMs;
        rows.push(row);
        log(
          `  ${row.layer} ${row.op}: ours ${row.oursMs?.toFixed(1) ?? `fails (${row.oursError})`} ms, ` +
            `tfjs ${tf ? (row.tfjsMs?.toFixed(1) ?? `fails (${row.tfjsError})`) : '-'} ms` +
            (row.maxRelDiff !== null ? `, rel diff ${row.maxRelDiff.toExponential(1)}` : ''),
        );
      }
    } finally {
      data.dispose();
      await engine.sync();
    }
  }
  return { batch, batchNote, rows, text: kernelsTable(rows, batchNote, tf !== null) };
}

const runs = (ms: number | null, iters: number) => (ms === null ? '-' : iters === 0 ? 'w' : String(iters));

function checkText(r: KernelRow): string {
  if (r.maxRelDiff === null) return '-';
  if (r.maxRelDiff <= CHECK_TOLERANCE) return `ok ${r.maxRelDiff.toExponential(0)}`;
  if (r.oursRefDiff !== undefined) {
    const oursOk = r.oursRefDiff <= CHECK_TOLERANCE;
    const tfjsOk = r.tfjsRefDiff! <= CHECK_TOLERANCE;
    if (oursOk && !tfjsOk) return 'DIFF: tfjs wrong';
    if (!oursOk && tfjsOk) return 'DIFF: ours wrong';
    return 'DIFF: both off';
  }
  return `DIFF ${r.maxRelDiff.toExponential(0)}`;
}

export function kernelsTable(rows: KernelRow[], batchNote: string, withTfjs: boolean): string {
  const rate = (r: number | null) => r ?? '-';
  const body = table(
    ['layer', 'op', 'shape (NCHW)', 'unit', 'ours ms', 'ours rate', 'tfjs ms', 'tfjs rate', 'tfjs/ours', 'runs', 'check'],
    rows.map((r) => [
      r.layer,
      r.op,
      r.shape,
      r.unit,
      r.oursMs ?? 'fails',
      rate(r.oursRate),
      withTfjs ? (r.tfjsMs ?? 'fails') : '-',
      rate(r.tfjsRate),
      r.ratio ?? '-',
      `${runs(r.oursMs, r.oursIters)}/${withTfjs ? runs(r.tfjsMs, r.tfjsIters) : '-'}`,
      checkText(r),
    ]),
  );
  const notes: string[] = [];
  for (const r of rows) {
    if (r.oursRefDiff !== undefined) {
      notes.push(
        `${r.layer} ${r.op}: ours and tfjs disagree (${r.maxRelDiff!.toExponential(1)}); against a float64 CPU reference ` +
          `ours ${r.oursRefDiff.toExponential(1)}, tfjs ${r.tfjsRefDiff!.toExponential(1)}`,
      );
    } else if (r.maxRelDiff !== null && !(r.maxRelDiff <= CHECK_TOLERANCE)) {
      notes.push(`${r.layer} ${r.op}: ours and tfjs disagree (${r.maxRelDiff.toExponential(1)}); no cheap reference to say which is wrong`);
    }
    if (r.oursError) notes.push(`${r.layer} ${r.op} ours fails: ${r.oursError}`);
    if (r.tfjsError) notes.push(`${r.layer} ${r.op} tfjs fails: ${r.tfjsError}`);
  }
  const both = rows.filter((r) => r.oursMs !== null && r.tfjsMs !== null);
  const sum = (f: (r: KernelRow) => number) => both.reduce((a, r) => a + f(r), 0);
  const totals = both.length
    ? `sum over the ${both.length} rows both ran: ours ${sum((r) => r.oursMs!).toFixed(0)} ms, tfjs ${sum((r) => r.tfjsMs!).toFixed(0)} ms ` +
      `(tfjs/ours ${(sum((r) => r.tfjsMs!) / sum((r) => r.oursMs!)).toFixed(2)})`
    : `sum of ours: ${rows.reduce((a, r) => a + (r.oursMs ?? 0), 0).toFixed(0)} ms`;
  return [
    `DC-IGN paper layers, ${batchNote}. Median ms to GPU completion (no readback). ` +
      'rate: GFLOP/s (conv fwd/dx/dw each 2*N*O*Ho*Wo*C*kh*kw; linear 2*N*in*out) or GB/s (nominal input + output bytes). ' +
      'dw includes the bias gradient. runs: timed runs ours/tfjs after one warm-up; w: the warm-up run alone ' +
      '(over 20 s, compilation included). check: max |ours - tfjs| / max |tfjs| on the warm-up outputs.',
    '',
    body,
    '',
    totals,
    ...notes,
  ].join('\n');
}
