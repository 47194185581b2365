// What the convolution's kernel variants (conv2d.ts's register-blocked ones, conv2d-tiled.ts's
// workgroup-tiled ones) are handed: one pass's shapes and addressing, and the windows of the
// batch chunk to run. Types only, so that either variant's file can read them.
import type { Binding } from '../gpu/engine.js';
import type { Tensor } from '../tensor.js';
import type { Activation } from './elementwise.js';

/** Everything the kernels need to know about one convolution's shapes. */
export interface Conv2dGeometry {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  kh: number;
  kw: number;
  stride: number;
  /** Zero rows above / columns left of the input (the far sides follow from Ho, Wo). */
  padTop: number;
  padLeft: number;
  Ho: number;
  Wo: number;
}

/** Elements of a tensor bound from an aligned byte offset; `base` is the first one's index in it. */
export interface Window {
  binding: Binding;
  base: number;
}

/**
 * One implicit-GEMM pass (the forward, or one stride phase of the input gradient): output pixel
 * (ty, tx) of the GEMM lands at (oyBase + oyStep*ty, oxBase + oxStep*tx), tap (a, b) of channel
 * pair (m, k) reads weight m*wM + k*wK + w0 + a*wRow + b*wCol (shaders/conv2d.wgsl has the story).
 */
export interface ConvPass {
  op: string;
  /** Names of input and output in errors. */
  names: [string, string];
  input: Tensor;
  weights: Tensor;
  bias: Tensor | null;
  out: Tensor;
  /** Multiply-adds of the whole op (all passes), which picks the register block. */
  macs: number;
  /** Images of input and output. */
  N: number;
  K: number;
  inH: number;
  inW: number;
  M: number;
  tilesY: number;
  tilesX: number;
  outH: number;
  outW: number;
  sy: number;
  sx: number;
  taps: number;
  kwTaps: number;
  padY: number;
  padX: number;
  wM: number;
  wK: number;
  w0: number;
  wRow: number;
  wCol: number;
  oyBase: number;
  oyStep: number;
  oxBase: number;
  oxStep: number;
  /** The store's activation (forward only). */
  activation?: Activation | null;
  /** The store interleaves M = 4 * O stacked channels into an output of O channels (outH, outW its plane). */
  shuffle?: boolean;
  /**
   * The store max-pools 2x2 windows at stride 2 into `out` [N, M, outH, outW] (the pooled size;
   * tilesY is outH, a lane's two rows rowStep input rows apart) and writes their argmax here.
   * The register variant only.
   */
  pool?: { indices: Tensor; rowStep: number };
}

/** A variant's kernel for one ConvPass: at most maxImages images per dispatch. */
export interface ConvRun {
  maxImages: number;
  /** `indices`: the pool's argmax window (ConvPass.pool). */
  dispatch(images: number, input: Window, out: Window, indices?: Window): void;
}

/**
 * A variant's weight-gradient kernel: `groups` workgroups per K segment; each dispatch writes
 * one partial dw slice per segment of rowsPerSeg (image, output row) rows into targets[0], from
 * slice segBase on, and with a bias lane the db slices into targets[1].
 */
export interface DwRun {
  groups: number;
  /** `indices`: with a pooled dy (the register kernel only), the pooling's argmax window. */
  dispatch(x: Window, dy: Window, targets: Binding[], rows: number, rowsPerSeg: number, segs: number, segBase: number, indices?: Window): void;
}

/**
 * Whether every output the pass stores reads only inputs inside the plane (no padding, and the
 * last output's window ends inside): then the input runs need no zero for outside, and lanes past
 * the plane's edge read clamped addresses for outputs that are never stored.
 */
export function readsInside(p: ConvPass): boolean {
  if (p.padY !== 0 || p.padX !== 0) return false;
  const lastY = (p.tilesY - 1) * p.sy + (p.pool?.rowStep ?? 0) + Math.max(p.taps, 1) - 1;
  const lastX = (p.tilesX - 1) * p.sx + Math.max(p.kwTaps, 1) - 1;
  return lastY <= p.inH - 1 && lastX <= p.inW - 1;
}
