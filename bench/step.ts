// `npm run bench -- step`: one full DC-IGN training step (forward, backward, RMSProp update) of our
// engine (src/train/step.ts's trainStep) and of the same network in tfjs-backend-webgpu on the same
// adapter (bench/tfjs-dcign.ts), on one fixed batch of rendered faces of a clamped batch type.
//
// Timing: wall-clock per step with a sync per step (ours: trainStep, flush, onSubmittedWorkDone;
// tfjs: the step, its queue submitted, onSubmittedWorkDone), no readback inside the timed window;
// median over the timed steps after one warm-up step. Where the device has timestamp-query each
// step is also bracketed by two timestamps written by empty compute passes submitted before and
// after it ("GPU span": the GPU's own clock, idle gaps while the CPU records included).
//
// Both sides start from the same weights (ours, converted to tfjs layouts) and see the same images
// and the same noise eps (a fixed host-drawn tensor, passed to trainStep as StepOptions.eps), so
// their losses agree step by step: the bench prints the largest relative difference.
//
// FLOPs: nominal (the paper's network run directly, decoder convolutions on the upsampled maps, as
// tfjs and PyTorch run it; GFLOP/s nominal compares frameworks) and executed (what our kernels do:
// the decoder's folded convolutions; GFLOP/s executed is our kernels' arithmetic rate). FLOPS_NOTE.
//
// Memory: the buffer pool's peak bytes in use during a timed step (pool.resetPeak() before it,
// peakInUseBytes after), against an analytic sum of weights + optimizer state + the activations
// backward needs + the largest activation gradient (memoryModel below). The warm-up step runs the
// pieces of trainStep (forwardLosses, backward, optimizer.step, zeroGrad: the same calls in the
// same order) with the pool instrumented, to say where the peak comes from. --profile runs one
// more such step with every dispatch timed alone and labelled with the layer that made it.
import { loadavg } from 'node:os';
import type { Engine } from '../src/node.js';
import type { DispatchArgs } from '../src/gpu/engine.js';
import type { CompiledKernel } from '../src/gpu/pipelines.js';
import { bucketSize } from '../src/gpu/pool.js';
import { Tensor, tidy, keep } from '../src/tensor.js';
import { backward, topoSort, zeroGrad } from '../src/autograd/tape.js';
import { add } from '../src/kernels/elementwise.js';
import { foldGeometry } from '../src/kernels/upconv.js';
import { Dcign } from '../src/model/dcign.js';
import { getPreset, shapesOf, type DcignConfig, type Padding } from '../src/model/presets.js';
import { RMSProp } from '../src/train/optim.js';
import { forwardLosses, trainStep, type StepOptions as TrainStepOptions } from '../src/train/step.js';
import { passThrough, type BatchKind } from '../src/train/schedule.js';
import { renderBatch } from '../src/data/batches.js';
import { loadTfjs, type TF } from './tfjs.js';
import { TfDcign } from './tfjs-dcign.js';
import { table } from './timing.js';

export interface StepBenchOptions {
  preset?: string;
  /** Default 20, the paper's batch. */
  batch?: number;
  /** Timed steps of ours. Default 3. */
  steps?: number;
  /** Timed steps of tfjs. Default: 1 on a software adapter, else `steps`. */
  tfjsSteps?: number;
  tfjs?: boolean;
  /** One more step of ours with every dispatch timed on its own (needs timestamp-query). */
  profile?: boolean;
  kind?: BatchKind;
  seed?: number;
  log?: (line: string) => void;
}

export interface StepRow {
  framework: 'ours' | 'tfjs';
  preset: string;
  batch: number;
  warmup: number;
  steps: number;
  /** Median wall-clock ms per step (sync per step), null when it failed. */
  msPerStep: number | null;
  stepMs: number[];
  /** Median GPU-timestamp span per step, null without timestamp-query. */
  gpuMsPerStep: number | null;
  /** Nominal FLOPs per step (the paper's network run directly, see FLOPS_NOTE) and GFLOP/s from them: comparable across frameworks. */
  flopsPerStep: number;
  gflops: number | null;
  /**
   * FLOPs this framework's kernels execute per step and GFLOP/s from them: ours runs the decoder
   * convolutions folded (upsampleConv2d); tfjs runs the network directly, so its are the nominal.
   */
  executedFlopsPerStep: number;
  executedGflops: number | null;
  /** Ours: buffer pool peakInUseBytes over a timed step; tfjs: its buffer manager's peak numBytesUsed. */
  peakBytes: number | null;
  /** Ours: pool allocatedBytes after the timed steps; tfjs: numBytesAllocatedInGPU. */
  allocatedBytes: number | null;
  /** Losses per image of the last step run. */
  bcePerImage: number | null;
  klPerImage: number | null;
  error?: string;
}

type StepFlopCounts = { nominal: number; executed: number };

/** A row with nothing measured yet. */
function emptyRow(framework: StepRow['framework'], preset: string, batch: number, steps: number, flops: StepFlopCounts): StepRow {
  return {
    framework, preset, batch, warmup: 1, steps, msPerStep: null, stepMs: [], gpuMsPerStep: null,
    flopsPerStep: flops.nominal, gflops: null, executedFlopsPerStep: flops.executed, executedGflops: null,
    peakBytes: null, allocatedBytes: null, bcePerImage: null, klPerImage: null,
  };
}

/** Sets the median step time and both rates from the row's step times. */
function setTimes(row: StepRow, gpuMs: number[]): void {
  row.msPerStep = median(row.stepMs);
  row.gflops = row.flopsPerStep / row.msPerStep / 1e6;
  row.executedGflops = row.executedFlopsPerStep / row.msPerStep / 1e6;
  row.gpuMsPerStep = gpuMs.length ? median(gpuMs) : null;
}

// ---- the network's shapes, FLOPs and an analytic memory model ------------------------------

interface ConvShape {
  name: string;
  C: number;
  O: number;
  /** Input side as the paper's network runs it: for the decoder, the upsampled map (2x the layer's input). */
  H: number;
  k: number;
  Ho: number;
  needsDx: boolean;
  /**
   * Decoder layers: the side kF of the folded kernels that upsampleConv2d runs instead (one conv2d
   * with 4*O output channels of (Ho/2)x(Ho/2) on the un-upsampled input; src/kernels/upconv.ts
   * foldGeometry: 7x7 valid -> 4x4, 5x5 same -> 3x3); null for the encoder.
   */
  kFolded: number | null;
}
interface LinearShape {
  name: string;
  inF: number;
  outF: number;
}
/** A named activation [N, ...] of the forward pass, elements per image. */
interface Activation {
  name: string;
  perImage: number;
  shape: number[];
}

export interface Network {
  convs: ConvShape[];
  linears: LinearShape[];
  /** The tensors our forward makes (decoder: the folded conv's [4*O, Ho/2, Ho/2] output, then the layer's output). */
  activations: Activation[];
  /** The tensors of the paper's network run directly, as tfjs does (decoder: the upsampled map, then the conv output). */
  directActivations: Activation[];
  params: number;
}

/** foldGeometry's kernel side for a K x K kernel with the given padding of the upsampled map. */
function foldedSide(K: number, padding: Padding): number {
  const P = padding === 'same' ? (K - 1) / 2 : 0;
  return Math.floor((K - P) / 2) + Math.ceil(P / 2) + 1;
}

export function network(c: DcignConfig): Network {
  const s = shapesOf(c);
  const convOut = (n: number, k: number, p: string) => (p === 'same' ? n : n - k + 1);
  const convs: ConvShape[] = [];
  const acts: Activation[] = [];
  const direct: Activation[] = [];
  const act = (to: Activation[][], name: string, shape: number[]) => {
    for (const list of to) list.push({ name, shape, perImage: shape.reduce((a, b) => a * b, 1) });
  };
  const both = [acts, direct];
  let ch = 1;
  let size = c.imageSize;
  act(both, 'images', [1, size, size]);
  for (let i = 0; i < 3; i++) {
    const O = c.encoderMaps[i]!;
    const Ho = convOut(size, c.encoderKernel, c.encoderPadding);
    convs.push({ name: `encoder.conv${i + 1}`, C: ch, O, H: size, k: c.encoderKernel, Ho, needsDx: i > 0, kFolded: null });
    act(both, `encoder.conv${i + 1} out`, [O, Ho, Ho]);
    size = Math.floor(Ho / 2);
    act(both, `encoder.pool${i + 1} out`, [O, size, size]);
    ch = O;
  }
  const linears: LinearShape[] = [
    { name: 'encoder.mu', inF: s.flat, outF: c.latents },
    { name: 'encoder.logvar', inF: s.flat, outF: c.latents },
  ];
  act(both, 'latents', [c.latents]);
  const [bc, bs] = c.decoderBase;
  linears.push({ name: 'decoder.fc', inF: c.latents, outF: bc * bs * bs });
  act(both, 'decoder.fc out', [bc, bs, bs]);
  ch = bc;
  size = bs;
  const kF = foldedSide(c.decoderKernel, c.decoderPadding);
  for (let i = 0; i < 4; i++) {
    const O = c.decoderMaps[i]!;
    const Ho = convOut(2 * size, c.decoderKernel, c.decoderPadding);
    convs.push({ name: `decoder.conv${i + 1}`, C: ch, O, H: 2 * size, k: c.decoderKernel, Ho, needsDx: true, kFolded: kF });
    act([direct], `decoder.up${i + 1} out`, [ch, 2 * size, 2 * size]);
    act([acts], `decoder.conv${i + 1} folded out`, [4 * O, Ho / 2, Ho / 2]);
    act(both, `decoder.conv${i + 1} out`, [O, Ho, Ho]);
    ch = O;
    size = Ho;
  }
  const params = convs.reduce((a, l) => a + l.O * l.C * l.k * l.k + l.O, 0) + linears.reduce((a, l) => a + l.outF * l.inF + l.outF, 0);
  return { convs, linears, activations: acts, directActivations: direct, params };
}

/** One convolution pass (fwd, dx or dw) of the paper's network: the direct conv, on the upsampled map in the decoder. */
const convFlops = (l: ConvShape, N: number) => 2 * N * l.O * l.Ho * l.Ho * l.C * l.k * l.k;
/** The same pass as our kernels run it: the decoder's folded conv, 4*O channels of (Ho/2)^2 pixels with kF x kF taps. */
const convFlopsExecuted = (l: ConvShape, N: number) =>
  l.kFolded === null ? convFlops(l, N) : 2 * N * (4 * l.O) * (l.Ho / 2) * (l.Ho / 2) * l.C * l.kFolded * l.kFolded;

export interface LayerFlops {
  name: string;
  fwd: number;
  dx: number;
  dw: number;
  /** What our kernels execute; equal to the nominal fwd, dx, dw except for the folded decoder convolutions. */
  executed: { fwd: number; dx: number; dw: number };
}

/** Per op FLOPs of one step, nominal and executed (see FLOPS_NOTE). */
export function stepFlops(net: Network, N: number): { total: number; executedTotal: number; perLayer: LayerFlops[] } {
  const conv = (l: ConvShape, f: (l: ConvShape, N: number) => number) => ({ fwd: f(l, N), dx: l.needsDx ? f(l, N) : 0, dw: f(l, N) });
  const perLayer: LayerFlops[] = [
    ...net.convs.map((l) => ({ name: l.name, ...conv(l, convFlops), executed: conv(l, convFlopsExecuted) })),
    ...net.linears.map((l) => {
      const f = 2 * N * l.inF * l.outF;
      return { name: l.name, fwd: f, dx: f, dw: f, executed: { fwd: f, dx: f, dw: f } };
    }),
  ];
  const sum = (x: { fwd: number; dx: number; dw: number }) => x.fwd + x.dx + x.dw;
  return {
    total: perLayer.reduce((a, r) => a + sum(r), 0),
    executedTotal: perLayer.reduce((a, r) => a + sum(r.executed), 0),
    perLayer,
  };
}

export const FLOPS_NOTE =
  'FLOPs per step, nominal: the paper network run directly (as tfjs and PyTorch run it): every convolution forward, input ' +
  'gradient (not for the first: the images need none) and weight gradient at 2*N*O*Ho*Wo*C*kh*kw each, the decoder\'s on ' +
  'the upsampled map; every linear layer forward, dx and dW at 2*N*in*out each. Executed: the same, except the decoder ' +
  'convolutions as our kernels run them (upsampleConv2d: one conv of the un-upsampled input with 4*O folded kernels, ' +
  '2*N*(4*O)*(Ho/2)*(Wo/2)*C*kF*kF each of fwd, dx, dw). Neither counts biases, pooling, upsampling, weight folding, ' +
  'depth-to-space, activations, losses or the optimizer. GFLOP/s nominal = nominal FLOPs / time (the same work for every ' +
  'framework, so comparable across them); GFLOP/s executed = executed FLOPs / time (the arithmetic rate of our kernels).';

export interface MemoryTerm {
  name: string;
  bytes: number;
}

export interface MemoryModel {
  weights: number;
  optimizer: number;
  /** Activations that a backward rule reads, held from the forward until the step ends. */
  activations: MemoryTerm[];
  activationBytes: number;
  largestGradient: MemoryTerm;
  /** weights + optimizer + activationBytes + largestGradient.bytes. */
  total: number;
  /** Held from the forward until the step ends although no backward rule reads them: not in the total. */
  unread: MemoryTerm[];
  /** Not in the total either: the parameter gradients, which fill up to the weights' size during backward. */
  parameterGradients: number;
  /** Of the activations, the step's inputs made before it (images, eps). */
  stepInputs: number;
}

/**
 * What a step must hold at once, at least, as the issue defines it: the weights, RMSProp's m and
 * v, the activations that backward reads, and the largest activation gradient. Checked against
 * src/model/dcign.ts (which frees what no rule reads), src/train/step.ts and the rules in
 * src/kernels. The activations backward reads, all held until trainStep's tidy ends:
 * - the images: conv1's weight gradient and BCE's rule read them (conv1 has no input gradient);
 * - per encoder stage, max pooling's argmax indices (u32, the size of the pooled map: pooling's
 *   rule reads them, not its input, so the conv output is freed) and the ReLU output (ReLU's rule
 *   reads its output, so the pooled map is freed; the next conv's weight gradient reads it, stage
 *   3's through the flattening view that the two heads' matmul weight gradients read);
 * - mu and logvar after the clamp (KL's and reparameterise's rules), eps (reparameterise's rule
 *   for logvar) and z (decoder.fc's weight gradient);
 * - the decoder's fc ReLU output (ReLU's rule; decoder.conv1 reads it through a view);
 * - per decoder conv (upsampleConv2d), the folded weights [4*O, C, kF, kF] (the folded conv's
 *   input gradient reads them) and the ReLU output (ReLU's rule, and the next folded conv's
 *   weight gradient, which reads the un-upsampled input: no upsampled map exists), the last
 *   layer's sigmoid output (the sigmoid's and BCE's rules). The folded conv's own output
 *   [N,4*O,Ho/2,Wo/2] is freed after depth-to-space, and depth-to-space's output after the ReLU.
 * The largest activation gradient: the largest tensor of our graph other than the images, since
 * each gets a gradient of its own size (the folded conv outputs and depth-to-space outputs of the
 * decoder as large as the layer's output; at the paper preset d encoder.conv1 out, which max
 * pooling's rule writes and conv1's weight gradient reads).
 * Not in the sum: the parameter gradients (`parameterGradients`, as large as the weights, built
 * up during backward), the gradient alive beside the largest one (a rule's incoming gradient
 * while it writes its output: at the paper preset d encoder.pool1 out, 1/4 of it), the `unread`
 * tensors below (each Linear's matmul output before its bias add, mu and logvar before the clamp,
 * which gradientFilter's rule reads only with --invariance, the repeated folded biases),
 * conv2d's weight-gradient scratch (the partial slices written) and the pool's bucketing.
 */
export function memoryModel(c: DcignConfig, N: number): MemoryModel {
  const net = network(c);
  const b = (perImage: number) => 4 * N * perImage;
  const byName = new Map(net.activations.map((a) => [a.name, a.perImage]));
  const acts: MemoryTerm[] = [{ name: 'images', bytes: b(byName.get('images')!) }];
  for (let i = 1; i <= 3; i++) {
    const p = byName.get(`encoder.pool${i} out`)!;
    acts.push({ name: `encoder.pool${i} argmax`, bytes: b(p) }, { name: `encoder.relu${i} out`, bytes: b(p) });
  }
  const L = c.latents;
  const fcOut = byName.get('decoder.fc out')!;
  acts.push({ name: 'mu, logvar after the clamp, eps, z', bytes: b(4 * L) });
  acts.push({ name: 'decoder.fc relu out', bytes: b(fcOut) });
  const decoder = net.convs.filter((l) => l.kFolded !== null);
  decoder.forEach((l, k) => {
    acts.push({ name: `${l.name} folded weights [${4 * l.O},${l.C},${l.kFolded},${l.kFolded}]`, bytes: 4 * 4 * l.O * l.C * l.kFolded! * l.kFolded! });
    acts.push({ name: k < decoder.length - 1 ? `decoder.relu${k + 1} out` : 'sigmoid out', bytes: b(byName.get(`${l.name} out`)!) });
  });
  const unread: MemoryTerm[] = [
    { name: 'encoder.mu, encoder.logvar matmul outputs (before the bias add)', bytes: b(2 * L) },
    { name: 'mu, logvar before the clamp', bytes: b(2 * L) },
    { name: 'decoder.fc matmul output (before the bias add)', bytes: b(fcOut) },
    { name: 'decoder folded biases', bytes: decoder.reduce((a, l) => a + 4 * 4 * l.O, 0) },
  ];
  const grads = net.activations.filter((a) => a.name !== 'images');
  const big = grads.reduce((x, y) => (y.perImage > x.perImage ? y : x));
  const weights = 4 * net.params;
  const activationBytes = acts.reduce((a, t) => a + t.bytes, 0);
  const largestGradient = { name: `d ${big.name}`, bytes: b(big.perImage) };
  return {
    weights, optimizer: 2 * weights, activations: acts, activationBytes, largestGradient,
    total: 3 * weights + activationBytes + largestGradient.bytes, unread, parameterGradients: weights,
    stepInputs: acts[0]!.bytes + b(L),
  };
}

// ---- helpers ----------------------------------------------------------------------------------

/** Deterministic N(0, 1) values (xorshift32 + Box-Muller). */
function normals(n: number, seed: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const u = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.sqrt(-2 * Math.log(u())) * Math.cos(2 * Math.PI * u());
  return out;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const h = Math.floor(s.length / 2);
  return s.length ? (s.length % 2 ? s[h]! : (s[h - 1]! + s[h]!) / 2) : NaN;
};
const MB = (bytes: number) => bytes / 1e6;
const fmtMB = (bytes: number | null) => (bytes === null ? '-' : `${MB(bytes).toFixed(1)} MB`);
const errText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split('\n')[0]!.slice(0, 200);
const load1 = () => Number(loadavg()[0]!.toFixed(2));

/**
 * Timestamps from empty compute passes submitted on a device's queue: the queue runs in order, so
 * the difference between two marks spans everything submitted between them.
 */
class GpuMarks {
  private readonly set: GPUQuerySet;
  private readonly resolve: GPUBuffer;
  private readonly read: GPUBuffer;
  private used = 0;
  constructor(private readonly device: GPUDevice, readonly capacity: number) {
    this.set = device.createQuerySet({ type: 'timestamp', count: capacity });
    this.resolve = device.createBuffer({ size: capacity * 8, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
    this.read = device.createBuffer({ size: capacity * 8, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  }
  static available(device: GPUDevice): boolean {
    return device.features.has('timestamp-query');
  }
  get count(): number {
    return this.used;
  }
  /** Submits a mark; returns its index, or -1 when the set is full. */
  mark(): number {
    if (this.used >= this.capacity) return -1;
    const enc = this.device.createCommandEncoder({ label: 'bench mark' });
    enc.beginComputePass({ timestampWrites: { querySet: this.set, beginningOfPassWriteIndex: this.used } }).end();
    this.device.queue.submit([enc.finish()]);
    return this.used++;
  }
  /** Waits for the marks so far and returns them in ms (relative to the first); resets the set. */
  async collect(): Promise<number[]> {
    const n = this.used;
    this.used = 0;
    if (!n) return [];
    const enc = this.device.createCommandEncoder({ label: 'bench marks' });
    enc.resolveQuerySet(this.set, 0, n, this.resolve, 0);
    enc.copyBufferToBuffer(this.resolve, 0, this.read, 0, n * 8);
    this.device.queue.submit([enc.finish()]);
    await this.read.mapAsync(GPUMapMode.READ, 0, n * 8);
    const ts = new BigUint64Array(this.read.getMappedRange(0, n * 8).slice(0));
    this.read.unmap();
    return [...ts].map((t) => Number(t - ts[0]!) / 1e6);
  }
  destroy(): void {
    this.set.destroy();
    this.resolve.destroy();
    this.read.destroy();
  }
}

// ---- ours ---------------------------------------------------------------------------------------

/**
 * Where the instrumented steps are: the phase, and inside it the layer whose forward runs or the
 * graph node whose backward rule runs. Pool allocations and dispatches are attributed to it.
 */
interface Context {
  label: string;
}

/**
 * Wraps every layer's forward (and Conv2d's forwardUpsampled, which the decoder calls) so the
 * context names the layer while it runs, and tags the graph nodes the call made (everything
 * between its output and its input: for a decoder layer the weight fold, the bias repeat, the
 * folded conv2d and the depth-to-space) with the layer, for instrumentGraph. Returns the undo.
 */
function instrumentLayers(model: Dcign, ctx: Context, layerOf: Map<Tensor, string>): () => void {
  const undo: (() => void)[] = [];
  type Forward = (x: Tensor) => Tensor;
  for (const [part, layers] of [['encoder', model.encoder], ['decoder', model.decoder]] as const) {
    for (const [name, layer] of Object.entries(layers) as unknown as [string, Record<string, unknown>][]) {
      const label = `${part}.${name}`;
      for (const method of ['forward', 'forwardUpsampled'] as const) {
        const f = layer[method];
        if (typeof f !== 'function') continue;
        layer[method] = (x: Tensor) => {
          const prev = ctx.label;
          ctx.label = `forward ${label}`;
          try {
            const y = (f as Forward).call(layer, x);
            const stack = [y];
            while (stack.length) {
              const t = stack.pop()!;
              if (t === x || !t.node || layerOf.has(t)) continue;
              layerOf.set(t, label);
              stack.push(...t.node.inputs);
            }
            return y;
          } finally {
            ctx.label = prev;
          }
        };
        undo.push(() => delete layer[method]);
      }
    }
  }
  return () => undo.forEach((u) => u());
}

/**
 * Wraps every backward rule of root's graph so the context names the node whose rule runs: its
 * op and the layer whose forward made it, or else the parameter it reads, or else the
 * activations of its output's size.
 */
function instrumentGraph(root: Tensor, ctx: Context, layerOf: Map<Tensor, string>, paramNames: Map<Tensor, string>, net: Network, N: number): void {
  for (const t of topoSort(root)) {
    const node = t.node;
    if (!node) continue;
    const param = node.inputs.map((i) => paramNames.get(i)).find((n) => n !== undefined)?.replace(/\.(weight|bias)$/, '');
    const acts = net.activations.filter((a) => a.perImage * N === t.size).map((a) => a.name);
    const where = layerOf.get(t) ?? param;
    const label = `backward ${node.op}${where ? ` ${where}` : acts.length ? ` @ ${acts.join('/')}` : ''}`;
    const rule = node.backward;
    node.backward = (g: Tensor) => {
      ctx.label = label;
      try {
        return rule(g);
      } finally {
        ctx.label = 'backward (gradient accumulation)';
      }
    };
  }
}

/**
 * trainStep's calls (forwardLosses, backward of bce + kl, optimizer.step, zeroGrad, in one tidy)
 * with the context set as they run and onPhase called after each phase.
 */
function instrumentedStep(
  model: Dcign,
  optimizer: RMSProp,
  images: Tensor,
  kind: BatchKind,
  o: TrainStepOptions,
  ctx: Context,
  net: Network,
  onPhase: (phase: 'forward' | 'backward' | 'optimizer') => void,
): { bce: Tensor; kl: Tensor } {
  const params = [...model.parameters().values()];
  const paramNames = new Map([...model.parameters()].map(([n, t]) => [t, n]));
  const N = images.shape[0]!;
  const layerOf = new Map<Tensor, string>();
  const undo = instrumentLayers(model, ctx, layerOf);
  try {
    return tidy(() => {
      ctx.label = 'forward';
      const { bce, kl } = forwardLosses(model, images, kind, o);
      onPhase('forward');
      ctx.label = 'backward';
      const loss = add(bce, kl);
      instrumentGraph(loss, ctx, layerOf, paramNames, net, N);
      backward(loss);
      onPhase('backward');
      ctx.label = 'optimizer';
      optimizer.step();
      zeroGrad(params);
      onPhase('optimizer');
      return { bce: keep(bce), kl: keep(kl) };
    });
  } finally {
    undo();
    ctx.label = 'idle';
  }
}

interface PoolTrace {
  /** Bytes asked for (Tensor.empty), in use, and its peak; the pool rounds each up to a bucket. */
  requestedInUse: number;
  requestedPeak: number;
  /** Pool inUseBytes (bucketed) peak and the buffers live at that moment: requested bytes, who asked. */
  bucketedPeak: number;
  liveAtPeak: { bytes: number; by: string }[];
  /**
   * Pool inUseBytes at each phase mark, the peak since the previous mark, and the requested bytes
   * of the buffers made during the step and still held at the mark.
   */
  marks: { phase: string; inUse: number; peakSincePrevious: number; madeHeld: number }[];
  restore: () => void;
  mark: (phase: string) => void;
}

/** Wraps pool.acquire/release to follow requested bytes, and what is live at the peak and who made it. */
function tracePool(engine: Engine, persistentRequested: number, who: () => string): PoolTrace {
  const pool = engine.pool;
  const acquire = pool.acquire;
  const release = pool.release;
  const live = new Map<GPUBuffer, { bytes: number; by: string }>();
  let phasePeak = pool.stats.inUseBytes;
  const trace: PoolTrace = {
    requestedInUse: persistentRequested,
    requestedPeak: persistentRequested,
    bucketedPeak: pool.stats.inUseBytes,
    liveAtPeak: [],
    marks: [],
    restore: () => {
      pool.acquire = acquire;
      pool.release = release;
    },
    mark: (phase: string) => {
      const madeHeld = [...live.values()].reduce((a, l) => a + l.bytes, 0);
      trace.marks.push({ phase, inUse: pool.stats.inUseBytes, peakSincePrevious: phasePeak, madeHeld });
      phasePeak = pool.stats.inUseBytes;
    },
  };
  pool.acquire = (bytes: number, label?: string) => {
    const buf = acquire.call(pool, bytes, label);
    live.set(buf, { bytes, by: who() });
    trace.requestedInUse += bytes;
    trace.requestedPeak = Math.max(trace.requestedPeak, trace.requestedInUse);
    phasePeak = Math.max(phasePeak, pool.stats.inUseBytes);
    if (pool.stats.inUseBytes > trace.bucketedPeak) {
      trace.bucketedPeak = pool.stats.inUseBytes;
      trace.liveAtPeak = [...live.values()];
    }
    return buf;
  };
  pool.release = (buf: GPUBuffer) => {
    const req = live.get(buf);
    if (req !== undefined) {
      live.delete(buf);
      trace.requestedInUse -= req.bytes;
    } else trace.requestedInUse -= buf.size;
    release.call(pool, buf);
  };
  return trace;
}

export interface OursMemory {
  /** Pool bytes in use before the step: weights, m, v, the images and eps. */
  persistent: number;
  afterForward: number;
  /** Requested bytes of the buffers the forward made and still held at its end (what backward may read, and what it cannot). */
  madeInForwardHeld: number;
  peakForward: number;
  peakBackward: number;
  peakOptimizer: number;
  /** Peak of the bytes kernels asked for (before bucketing) and of the pool's bucketed bytes, same step. */
  requestedPeak: number;
  bucketedPeak: number;
  /** Buffers made during the step and live at the bucketed peak, largest first: requested bytes, who asked. */
  liveAtPeak: { bytes: number; bucket: number; by: string }[];
  /** Their bytes summed by who asked. */
  liveAtPeakByOwner: { by: string; bytes: number; buffers: number }[];
}

interface ProfileEntry {
  what: string;
  ms: number;
  dispatches: number;
}

/** A dispatch's kernel in a few words: conv passes by kind, elementwise by expression. */
function kernelWords(kernel: { name: string; key: string }): string {
  const has = (flag: string) => kernel.key.includes(`["${flag}",true]`);
  if (kernel.name === 'conv2d') {
    for (const [flag, words] of [['CONV', 'conv implicit GEMM'], ['DW_SUM', 'conv dw partial sums'], ['DW', 'conv dw'], ['DB', 'conv db']] as const) {
      if (has(flag)) return words;
    }
  }
  if (kernel.name === 'upconv') return `${has('FOLD') ? 'fold weights' : 'depth-to-space'}${has('BACKWARD') ? ' backward' : ''}`;
  if (kernel.name === 'elementwise') {
    const m = /"EXPR","((?:[^"\\]|\\.)*)"/.exec(kernel.key);
    return `elementwise ${m ? (JSON.parse(`"${m[1]}"`) as string) : '?'}`;
  }
  const flags = ['BACKWARD', 'INDICES', 'KL', 'CLAMP', 'FILTER', 'MEAN', 'RMSPROP'].filter(has);
  return `${kernel.name}${flags.length ? ` ${flags.join(',').toLowerCase()}` : ''}`;
}

/** The traced step's numbers: phases, peaks and what was live at the peak (grouped by who made it). */
function summarise(trace: PoolTrace, persistent: number, sizeName: (bytes: number) => string): OursMemory {
  const [fwd, bwd, opt] = trace.marks as [PoolTrace['marks'][0], PoolTrace['marks'][0], PoolTrace['marks'][0]];
  const live = [...trace.liveAtPeak].sort((a, b) => b.bytes - a.bytes).map((l) => ({ bytes: l.bytes, bucket: bucketSize(l.bytes), by: `${l.by}${sizeName(l.bytes)}` }));
  const byOwner = new Map<string, { by: string; bytes: number; buffers: number }>();
  for (const l of live) {
    const e = byOwner.get(l.by) ?? { by: l.by, bytes: 0, buffers: 0 };
    e.bytes += l.bytes;
    e.buffers++;
    byOwner.set(l.by, e);
  }
  return {
    persistent,
    afterForward: fwd.inUse,
    madeInForwardHeld: fwd.madeHeld,
    peakForward: fwd.peakSincePrevious,
    peakBackward: bwd.peakSincePrevious,
    peakOptimizer: opt.peakSincePrevious,
    requestedPeak: trace.requestedPeak,
    bucketedPeak: trace.bucketedPeak,
    liveAtPeak: live,
    liveAtPeakByOwner: [...byOwner.values()].sort((a, b) => b.bytes - a.bytes),
  };
}

interface OursRun {
  row: StepRow;
  losses: { bce: number; kl: number }[];
  memory: OursMemory;
  profile: ProfileEntry[] | null;
  profileTotalMs: number | null;
}

async function runOurs(
  engine: Engine,
  model: Dcign,
  images: Tensor,
  eps: Tensor,
  kind: BatchKind,
  seed: number,
  steps: number,
  profile: boolean,
  log: (l: string) => void,
): Promise<OursRun> {
  const c = model.config;
  const N = images.shape[0]!;
  const net = network(c);
  const flops = stepFlops(net, N);
  const params = [...model.parameters().values()];
  const optimizer = new RMSProp(params);
  const paramSizes = new Map<number, string[]>();
  for (const [name, p] of model.parameters()) paramSizes.set(p.size, [...(paramSizes.get(p.size) ?? []), name]);
  const o = (step: number): TrainStepOptions => ({ procedure: 'clamped', seed, step, eps });
  const losses: { bce: number; kl: number }[] = [];
  // Losses of the warm-up and timed steps go on record (compared with tfjs's); the extra steps' do not.
  const readLosses = async (l: { bce: Tensor; kl: Tensor }, onRecord = true) => {
    const [bce, kl] = await Promise.all([l.bce.data(), l.kl.data()]);
    l.bce.dispose();
    l.kl.dispose();
    const r = { bce: bce[0]!, kl: kl[0]! };
    if (!Number.isFinite(r.bce) || !Number.isFinite(r.kl)) throw new Error(`non-finite loss: bce ${r.bce}, kl ${r.kl}`);
    if (onRecord) losses.push(r);
    return r;
  };
  await engine.sync();

  // Warm-up: trainStep's calls one by one, with the pool traced (compiles every pipeline too).
  const persistentRequested = [...params, ...optimizer.m, ...optimizer.v, images, eps].reduce((a, t) => a + Math.max(4, t.size * 4), 0);
  const persistent = engine.pool.stats.inUseBytes;
  const ctx: Context = { label: 'idle' };
  const sizeName = (bytes: number) => {
    const names = net.activations.filter((a) => a.perImage * N * 4 === bytes).map((a) => a.name);
    return names.length ? ` [${names.join('/')} sized]` : paramSizes.has(bytes / 4) ? ` [${paramSizes.get(bytes / 4)!.join('/')} sized]` : '';
  };
  let trace: PoolTrace | null = null;
  let t0 = performance.now();
  let warm: { bce: Tensor; kl: Tensor };
  try {
    trace = tracePool(engine, persistentRequested, () => ctx.label);
    warm = instrumentedStep(model, optimizer, images, kind, o(0), ctx, net, (phase) => trace!.mark(phase));
  } finally {
    trace?.restore();
  }
  engine.flush();
  await engine.sync();
  const warmMs = performance.now() - t0;
  const wl = await readLosses(warm);
  log(`  ours warm-up (compiles pipelines): ${(warmMs / 1000).toFixed(1)} s, bce/image ${(wl.bce / N).toFixed(1)}, kl/image ${(wl.kl / N).toFixed(3)}`);
  const memory = summarise(trace, persistent, sizeName);

  // Timed steps: trainStep itself.
  const marks = GpuMarks.available(engine.device) ? new GpuMarks(engine.device, 2) : null;
  const stepMs: number[] = [];
  const gpuMs: number[] = [];
  let peak = 0;
  for (let i = 1; i <= steps; i++) {
    await engine.sync();
    engine.pool.resetPeak();
    t0 = performance.now();
    marks?.mark();
    const l = trainStep(model, optimizer, images, kind, o(i));
    engine.flush();
    marks?.mark();
    await engine.sync();
    const ms = performance.now() - t0;
    stepMs.push(ms);
    peak = Math.max(peak, engine.pool.stats.peakInUseBytes);
    if (marks) gpuMs.push((await marks.collect())[1]!);
    const r = await readLosses(l);
    log(
      `  ours step ${i}/${steps}: ${ms.toFixed(0)} ms${marks ? ` (GPU span ${gpuMs[gpuMs.length - 1]!.toFixed(0)} ms)` : ''}, ` +
        `pool peak ${fmtMB(engine.pool.stats.peakInUseBytes)}, bce/image ${(r.bce / N).toFixed(1)}, kl/image ${(r.kl / N).toFixed(3)}`,
    );
  }
  marks?.destroy();
  const row = emptyRow('ours', c.preset, N, steps, { nominal: flops.total, executed: flops.executedTotal });
  row.stepMs = stepMs;
  setTimes(row, gpuMs);
  row.peakBytes = peak;
  row.allocatedBytes = engine.pool.stats.allocatedBytes;
  row.bcePerImage = losses[losses.length - 1]!.bce / N;
  row.klPerImage = losses[losses.length - 1]!.kl / N;

  // Profile: one more step, every dispatch submitted alone between two timestamps.
  let prof: ProfileEntry[] | null = null;
  let profileTotalMs: number | null = null;
  if (profile) {
    if (!GpuMarks.available(engine.device)) log('  profile: skipped (no timestamp-query on this device)');
    else {
      const pm = new GpuMarks(engine.device, 4096);
      const labels: string[] = [];
      const dispatch = engine.dispatch;
      await engine.sync();
      pm.mark();
      engine.dispatch = (kernel: CompiledKernel, args: DispatchArgs) => {
        dispatch.call(engine, kernel, args);
        engine.flush();
        if (pm.mark() >= 0) labels.push(`${ctx.label}: ${kernelWords(kernel)}`);
      };
      let l: { bce: Tensor; kl: Tensor };
      try {
        l = instrumentedStep(model, optimizer, images, kind, o(steps + 1), ctx, net, () => {});
      } finally {
        engine.dispatch = dispatch;
      }
      await engine.sync();
      const t = await pm.collect();
      pm.destroy();
      await readLosses(l, false);
      const agg = new Map<string, ProfileEntry>();
      labels.forEach((what, i) => {
        const e = agg.get(what) ?? { what, ms: 0, dispatches: 0 };
        e.ms += t[i + 1]! - t[i]!;
        e.dispatches++;
        agg.set(what, e);
      });
      prof = [...agg.values()].sort((a, b) => b.ms - a.ms);
      profileTotalMs = t[t.length - 1]!;
      log(`  ours profile step: ${labels.length} dispatches, ${profileTotalMs.toFixed(0)} ms GPU in all`);
    }
  }
  optimizer.dispose();
  return { row, losses, memory, profile: prof, profileTotalMs };
}

// ---- tfjs ---------------------------------------------------------------------------------------

interface TfBackend {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
  bufferManager: { acquireBuffer: (...a: unknown[]) => GPUBuffer; numBytesUsed: number; numBytesAllocated: number };
}

async function runTfjs(
  tf: TF,
  setup: ConstructorParameters<typeof TfDcign>[1],
  steps: number,
  flops: StepFlopCounts,
  explicit: boolean,
  log: (l: string) => void,
): Promise<{ row: StepRow; losses: { bce: number; kl: number }[] }> {
  const c = setup.config;
  const N = setup.batch;
  const row = emptyRow('tfjs', c.preset, N, steps, flops);
  const losses: { bce: number; kl: number }[] = [];
  const backend = tf.backend() as unknown as TfBackend;
  const device = backend.device;
  const submit = () => {
    backend.endComputePassEncoder();
    if (backend.commandEncoder) backend.submitQueue();
  };
  // tfjs's buffer manager counts bytes in use; its peak is followed by wrapping acquireBuffer.
  const bm = backend.bufferManager;
  const acquire = bm.acquireBuffer;
  let peak = bm.numBytesUsed;
  bm.acquireBuffer = (...a: unknown[]) => {
    const b = acquire.apply(bm, a);
    peak = Math.max(peak, bm.numBytesUsed);
    return b;
  };
  // tfjs binds every tensor whole: an activation above the storage-binding limit fails validation
  // (measured at paper batch 20 on lavapipe after a ~20 minute step). Unless asked for explicitly
  // (--tfjs-steps), such a step is reported as failing without running it.
  const limit = device.limits.maxStorageBufferBindingSize;
  const tooBig = network(c).directActivations.filter((a) => a.perImage * N * 4 > limit);
  if (tooBig.length && !explicit) {
    row.error =
      `${tooBig.map((a) => `${a.name} [${N},${a.shape.join(',')}] (${fmtMB(a.perImage * N * 4)})`).join(', ')} above the ` +
      `${limit}-byte storage binding limit, and tfjs binds whole tensors (not run; --tfjs-steps N runs it and catches the error)`;
    log(`  tfjs fails: ${row.error}`);
    return { row, losses };
  }
  const marks = GpuMarks.available(device) ? new GpuMarks(device, 2) : null;
  const gpuMs: number[] = [];
  let model: TfDcign | null = null;
  // Errors Dawn reports asynchronously (a binding above the limit, an allocation failure) are
  // caught by error scopes around each step, and the step fails with the first one.
  const guarded = async <T>(fn: () => Promise<T>): Promise<T> => {
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    let thrown: unknown = null;
    let out: T | undefined;
    try {
      out = await fn();
    } catch (e) {
      thrown = e;
    }
    const validation = await device.popErrorScope();
    const oom = await device.popErrorScope();
    if (validation || oom) throw new Error(`GPU ${validation ? 'validation' : 'out-of-memory'} error: ${(validation ?? oom)!.message.split('\n')[0]}`);
    if (thrown) throw thrown;
    return out as T;
  };
  const readLosses = async ([bce, kl]: [import('@tensorflow/tfjs').Scalar, import('@tensorflow/tfjs').Scalar]) => {
    const r = { bce: (await bce.data())[0]!, kl: (await kl.data())[0]! };
    bce.dispose();
    kl.dispose();
    if (!Number.isFinite(r.bce) || !Number.isFinite(r.kl)) throw new Error(`non-finite loss at step ${losses.length + 1}: bce ${r.bce}, kl ${r.kl}`);
    losses.push(r);
    return r;
  };
  try {
    model = new TfDcign(tf, setup);
    let t0 = performance.now();
    await guarded(async () => {
      const l = model!.step();
      submit();
      await device.queue.onSubmittedWorkDone();
      await readLosses(l);
    });
    const wl = losses[0]!;
    log(`  tfjs warm-up (compiles pipelines): ${((performance.now() - t0) / 1000).toFixed(1)} s, bce/image ${(wl.bce / N).toFixed(1)}, kl/image ${(wl.kl / N).toFixed(3)}`);
    peak = bm.numBytesUsed;
    for (let i = 1; i <= steps; i++) {
      let ms = 0;
      await guarded(async () => {
        t0 = performance.now();
        submit();
        marks?.mark();
        const l = model!.step();
        submit();
        marks?.mark();
        await device.queue.onSubmittedWorkDone();
        ms = performance.now() - t0;
        if (marks) gpuMs.push((await marks.collect())[1]!);
        const r = await readLosses(l);
        row.stepMs.push(ms);
        log(`  tfjs step ${i}/${steps}: ${ms.toFixed(0)} ms${marks ? ` (GPU span ${gpuMs[gpuMs.length - 1]!.toFixed(0)} ms)` : ''}, bce/image ${(r.bce / N).toFixed(1)}, kl/image ${(r.kl / N).toFixed(3)}`);
      });
    }
    setTimes(row, gpuMs);
    row.peakBytes = peak;
    row.allocatedBytes = bm.numBytesAllocated;
  } catch (e) {
    row.error = errText(e);
    log(`  tfjs fails: ${row.error}`);
    losses.length = 0; // a failed step's numbers mean nothing
  } finally {
    bm.acquireBuffer = acquire;
    marks?.destroy();
    model?.dispose();
  }
  const last = losses[losses.length - 1];
  if (last) {
    row.bcePerImage = last.bce / N;
    row.klPerImage = last.kl / N;
  }
  return { row, losses };
}

// ---- the bench ----------------------------------------------------------------------------------

export type StepBenchResult = {
  rows: StepRow[];
  text: string;
  preset: string;
  batch: number;
  batchKind: BatchKind;
  timing: string;
  flopsNote: string;
  flopsPerLayer: ReturnType<typeof stepFlops>['perLayer'];
  memoryModel: MemoryModel;
  oursMemory: OursMemory | null;
  /** Largest relative difference of the per-step losses, ours vs tfjs, over the steps both ran. */
  lossCheck: { steps: number; maxRelDiff: number } | null;
  profile: ProfileEntry[] | null;
  profileTotalMs: number | null;
  loadDuring: { ours: [number, number]; tfjs: [number, number] | null };
};

export async function benchStep(engine: Engine, opts: StepBenchOptions = {}): Promise<StepBenchResult> {
  const log = opts.log ?? (() => {});
  const preset = opts.preset ?? 'paper';
  const c = getPreset(preset);
  const N = opts.batch ?? 20;
  const steps = opts.steps ?? 3;
  const tfjsSteps = opts.tfjsSteps ?? (engine.software ? 1 : steps);
  const kind: BatchKind = opts.kind ?? 'az';
  const seed = opts.seed ?? 1;
  const net = network(c);
  const flops = stepFlops(net, N);
  // tfjs runs the paper's network directly: it executes the nominal FLOPs.
  const tfjsFlops = { nominal: flops.total, executed: flops.total };
  const mem = memoryModel(c, N);
  log(
    `step: preset ${preset}, batch ${N} (${kind} batch: latents [${passThrough(kind, c.latents).join(', ')}) pass through), ` +
      `${(flops.total / 1e9).toFixed(1)} GFLOP per step nominal, ${(flops.executedTotal / 1e9).toFixed(1)} executed by ours; ours ${steps} timed step(s), ` +
      (opts.tfjs === false ? 'tfjs off' : `tfjs ${tfjsSteps}`) + ', one warm-up each',
  );

  // One fixed batch of rendered faces and one fixed eps, shared by both sides.
  const images = renderBatch({ type: kind, seed, count: N }, { size: c.imageSize }, engine).images;
  const epsData = normals(N * c.latents, seed + 7);
  const eps = Tensor.fromData(epsData, [N, c.latents], 'f32', engine);
  const model = new Dcign(c, seed, engine);
  const kF = foldGeometry('bench step', model.decoder.conv1.weight, c.decoderPadding).KF;
  if (net.convs.some((l) => l.kFolded !== null && l.kFolded !== kF)) throw new Error(`bench step: the folded kernel side is ${kF}, not what network() assumes`);
  await engine.sync();
  const wantTfjs = opts.tfjs !== false;
  const weights = new Map<string, { data: Float32Array; shape: readonly number[] }>();
  let imageData: Float32Array | null = null;
  if (wantTfjs) {
    for (const [name, p] of model.parameters()) weights.set(name, { data: await p.data(), shape: p.shape });
    imageData = await images.data();
  }

  const oursLoad: [number, number] = [load1(), 0];
  const ours = await runOurs(engine, model, images, eps, kind, seed, steps, opts.profile ?? false, log);
  oursLoad[1] = load1();
  model.dispose();
  images.dispose();
  eps.dispose();
  engine.pool.trim();
  await engine.sync();

  const rows = [ours.row];
  let tfjsLoad: [number, number] | null = null;
  let lossCheck: StepBenchResult['lossCheck'] = null;
  if (wantTfjs) {
    let tf: TF | null = null;
    try {
      tf = await loadTfjs();
    } catch (e) {
      rows.push({ ...emptyRow('tfjs', preset, N, tfjsSteps, tfjsFlops), error: `tfjs did not load: ${errText(e)}` });
    }
    if (tf) {
      tfjsLoad = [load1(), 0];
      const r = await runTfjs(
        tf,
        { config: c, batch: N, images: imageData!, eps: epsData, pass: passThrough(kind, c.latents), weights, rms: { lr: 5e-4, b1: 0.1, b2: 0.01, eps: 1e-8 } },
        tfjsSteps,
        tfjsFlops,
        opts.tfjsSteps !== undefined,
        log,
      );
      tfjsLoad[1] = load1();
      rows.push(r.row);
      const both = Math.min(r.losses.length, ours.losses.length);
      if (both) {
        let d = 0;
        for (let i = 0; i < both; i++) {
          for (const k of ['bce', 'kl'] as const) {
            const a = ours.losses[i]![k];
            const b = r.losses[i]![k];
            d = Math.max(d, Math.abs(a - b) / Math.max(Math.abs(b), 1e-30));
          }
        }
        lossCheck = { steps: both, maxRelDiff: d };
      }
    }
  }

  const timing =
    'wall-clock ms per step with a sync per step (no readback inside), median of the timed steps after one warm-up; ' +
    'GPU span: timestamps written before and after the step on the device queue (idle gaps included)';
  const text = stepText({ rows, mem, memory: ours.memory, N, preset, kind, lossCheck, profile: ours.profile, profileTotalMs: ours.profileTotalMs, oursMs: ours.row.msPerStep, oursLoad, tfjsLoad });
  return {
    rows, text, preset, batch: N, batchKind: kind, timing, flopsNote: FLOPS_NOTE, flopsPerLayer: flops.perLayer,
    memoryModel: mem, oursMemory: ours.memory, lossCheck, profile: ours.profile, profileTotalMs: ours.profileTotalMs,
    loadDuring: { ours: oursLoad, tfjs: tfjsLoad },
  };
}

function tracedText(title: string, mm: OursMemory): string[] {
  const out: string[] = [];
  out.push(
    `  ${title}: before ${MB(mm.persistent).toFixed(1)}, end of forward ${MB(mm.afterForward).toFixed(1)}, ` +
      `peak in backward ${MB(mm.peakBackward).toFixed(1)}, in the optimizer ${MB(mm.peakOptimizer).toFixed(1)} MB; ` +
      `peak requested ${MB(mm.requestedPeak).toFixed(1)} vs bucketed ${MB(mm.bucketedPeak).toFixed(1)} MB (bucketing +${((mm.bucketedPeak / mm.requestedPeak - 1) * 100).toFixed(0)}%)`,
  );
  const made = mm.liveAtPeak.reduce((x, l) => x + l.bucket, 0);
  out.push(
    `    at the peak: ${mm.liveAtPeak.length} buffers made during the step (${MB(made).toFixed(1)} MB bucketed) on top of ` +
      `the ${MB(mm.persistent).toFixed(1)} MB held before it; by the op that made them and their size (requested bytes):`,
  );
  for (const l of mm.liveAtPeakByOwner.slice(0, 24)) out.push(`    ${MB(l.bytes).toFixed(1).padStart(8)} MB  ${String(l.buffers).padStart(3)} x  ${l.by}`);
  return out;
}

function stepText(a: {
  rows: StepRow[];
  mem: MemoryModel;
  memory: OursMemory;
  N: number;
  preset: string;
  kind: BatchKind;
  lossCheck: StepBenchResult['lossCheck'];
  profile: ProfileEntry[] | null;
  profileTotalMs: number | null;
  oursMs: number | null;
  oursLoad: [number, number];
  tfjsLoad: [number, number] | null;
}): string {
  const oursRow = a.rows[0]!;
  const out: string[] = [];
  out.push(
    `DC-IGN training step, preset ${a.preset}, batch ${a.N} (${a.kind}), ${(oursRow.flopsPerStep / 1e9).toFixed(1)} GFLOP per step nominal ` +
      `(the paper's network run directly), ${(oursRow.executedFlopsPerStep / 1e9).toFixed(1)} GFLOP executed by ours (decoder convolutions folded).`,
  );
  out.push(
    table(
      ['framework', 'ms/step', 'GPU span ms', 'steps', 'GFLOP/s nominal', 'GFLOP/s executed', 'peak bytes', 'allocated', 'bce/image', 'kl/image', 'vs ours', '1-min load'],
      a.rows.map((r) => {
        const ld = r.framework === 'ours' ? a.oursLoad : a.tfjsLoad;
        return [
          r.framework,
          r.msPerStep ?? 'fails',
          r.gpuMsPerStep ?? '-',
          r.msPerStep === null ? '-' : `${r.stepMs.length}+${r.warmup}`,
          r.gflops ?? '-',
          r.executedGflops ?? '-',
          fmtMB(r.peakBytes),
          fmtMB(r.allocatedBytes),
          r.bcePerImage === null ? '-' : r.bcePerImage.toFixed(1),
          r.klPerImage === null ? '-' : r.klPerImage.toFixed(3),
          r.framework === 'ours' || r.msPerStep === null || !a.oursMs ? '-' : `${(r.msPerStep / a.oursMs).toFixed(2)}x slower`,
          ld ? `${ld[0]} -> ${ld[1]}` : '-',
        ];
      }),
    ),
  );
  for (const r of a.rows) if (r.error) out.push(`${r.framework} fails: ${r.error}`);
  if (a.lossCheck) {
    out.push(`losses ours vs tfjs (same weights, images, eps): max relative difference ${a.lossCheck.maxRelDiff.toExponential(1)} over ${a.lossCheck.steps} step(s)`);
  }
  out.push('peak bytes: ours, the buffer pool peakInUseBytes over a timed step; tfjs, its buffer manager peak numBytesUsed.');
  out.push(FLOPS_NOTE);

  const m = a.mem;
  const mm = a.memory;
  const peak = oursRow.peakBytes ?? mm.bucketedPeak;
  out.push('');
  out.push(`Memory at batch ${a.N} (MB = 1e6 bytes):`);
  out.push(
    `  analytic: weights ${MB(m.weights).toFixed(1)} + m, v ${MB(m.optimizer).toFixed(1)} + activations kept for backward ${MB(m.activationBytes).toFixed(1)} ` +
      `+ largest gradient (${m.largestGradient.name}) ${MB(m.largestGradient.bytes).toFixed(1)} = ${MB(m.total).toFixed(1)} MB`,
  );
  out.push(`  pool peak in a timed step ${MB(peak).toFixed(1)} MB = ${(peak / m.total).toFixed(2)}x the analytic sum (issue target: at most 1.5x)`);
  const unread = m.unread.reduce((x, t) => x + t.bytes, 0);
  out.push(
    `  not in the sum: the parameter gradients ${MB(m.parameterGradients).toFixed(1)} MB (built up during backward), ` +
      `${MB(unread).toFixed(1)} MB held to the step's end that no rule reads (below), the gradient beside the largest, ` +
      'conv weight-gradient scratch, bucketing',
  );
  out.push(...tracedText('warm-up step (trainStep\'s calls), traced', mm));
  out.push(
    `  the model against that trace: the forward made and still held at its end ${MB(mm.madeInForwardHeld).toFixed(1)} MB (requested bytes); ` +
      `analytic activations + unread, less the step's inputs made before it (images, eps), ${MB(m.activationBytes + unread - m.stepInputs).toFixed(1)} MB`,
  );
  out.push('  analytic activations kept for backward (read by a rule):');
  for (const t of m.activations) out.push(`    ${MB(t.bytes).toFixed(1).padStart(8)} MB  ${t.name}`);
  out.push('  held to the step\'s end, read by no rule (not in the sum):');
  for (const t of m.unread) out.push(`    ${MB(t.bytes).toFixed(1).padStart(8)} MB  ${t.name}`);

  if (a.profile && a.profileTotalMs) {
    const total = a.profileTotalMs;
    out.push('');
    out.push(`Profile of one more step of ours: each dispatch submitted alone between GPU timestamps, ${total.toFixed(0)} ms in all.`);
    const byLayer = new Map<string, number>();
    for (const e of a.profile) {
      const layer = /^(?:forward|backward \S+) ((?:encoder|decoder)\.\w+)/.exec(e.what)?.[1];
      const k = layer ?? `${e.what.split(': ')[1]!.split(' ')[0]} (not in a layer)`;
      byLayer.set(k, (byLayer.get(k) ?? 0) + e.ms);
    }
    const pct = (ms: number) => `${((ms / total) * 100).toFixed(1)}%`;
    out.push(
      table(
        ['where: kernel', 'dispatches', 'ms', 'share'],
        a.profile.filter((e) => e.ms >= total * 0.003).map((e) => [e.what, String(e.dispatches), e.ms, pct(e.ms)]),
      ),
    );
    out.push(`by layer (forward, backward rule and bias): ${[...byLayer.entries()].sort((x, y) => y[1] - x[1]).map(([k, v]) => `${k} ${pct(v)}`).join(', ')}`);
  }
  return out.join('\n');
}
