// 2-D convolution (NCHW input, PyTorch [O, C, kh, kw] weights, cross-correlation) with fused
// bias, and its three gradients. Every kernel walks the batch in chunks whose tensors each fit one
// storage binding, so activations larger than a binding (20 x 96 x 146 x 146 floats) just work.
import source from '../../shaders/conv2d.wgsl';
import activationSource from '../../shaders/activation.wgsl';
import { grid1d, Uniforms, type Binding, type Engine } from '../gpu/engine.js';
import { isGradEnabled, record } from '../autograd/tape.js';
import { pooledConv, pooledConvFits } from './conv2d-pooled.js';
import { shapeStr, Tensor } from '../tensor.js';
import { bindRange, checkF32, checkWhole, opError, output, rangeBinding, wholeBinding } from './util.js';
import { activationDefines, type Activation } from './elementwise.js';
import { maxPool2dBackward, maxPool2dRaw } from './maxpool2d.js';
import { readsInside, type Conv2dGeometry, type ConvPass, type ConvRun, type DwRun, type Window } from './conv2d-pass.js';
import { tiledConv, tiledDw } from './conv2d-tiled.js';
import { convVariant } from './conv2d-variant.js';
import type { ConvVariant } from '../gpu/autotune.js';

export type { Conv2dGeometry } from './conv2d-pass.js';

export type Conv2dPadding = number | 'valid' | 'same';

export interface Conv2dOptions {
  /** Step between output pixels, both axes. Default 1. */
  stride?: number;
  /**
   * Zero padding on every side, or 'valid' (0), or 'same' (stride 1 only: the output keeps the
   * input's size; an even kernel pads one more at the bottom and right, as PyTorch does).
   */
  padding?: Conv2dPadding;
  /** The kernel variant for this call and its gradients; default the engine's choice (Engine.convVariant). */
  variant?: ConvVariant;
}

type Shaped = Tensor | readonly number[];
const shapeOf = (t: Shaped) => (t instanceof Tensor ? t.shape : t);

/** Checks shapes and options and derives the output size; errors name the op and the shapes. */
export function conv2dGeometry(op: string, x: Shaped, w: Shaped, o: Conv2dOptions = {}): Conv2dGeometry {
  const xs = shapeOf(x);
  const ws = shapeOf(w);
  const named: [string, Shaped][] = [['x', x], ['w', w]];
  const bad = (msg: string) => opError(op, msg, ...named);
  if (xs.length !== 4) throw bad(`x must be 4-D NCHW, got rank ${xs.length}`);
  if (ws.length !== 4) throw bad(`w must be 4-D [out channels, in channels, kh, kw], got rank ${ws.length}`);
  const [N, C, H, W] = xs as [number, number, number, number];
  const [O, Cw, kh, kw] = ws as [number, number, number, number];
  if (Cw !== C) throw bad(`x has ${C} channels but w expects ${Cw}`);
  if (N < 1 || C < 1 || H < 1 || W < 1 || O < 1 || kh < 1 || kw < 1) throw bad('every dimension must be at least 1');
  const stride = o.stride ?? 1;
  if (!Number.isInteger(stride) || stride < 1) throw bad(`stride must be a positive integer, got ${stride}`);
  const padding = o.padding ?? 0;
  let padTop: number;
  let padLeft: number;
  let Ho: number;
  let Wo: number;
  if (padding === 'same') {
    if (stride !== 1) throw bad(`padding 'same' needs stride 1, got stride ${stride}`);
    padTop = Math.floor((kh - 1) / 2);
    padLeft = Math.floor((kw - 1) / 2);
    Ho = H;
    Wo = W;
  } else {
    const p = padding === 'valid' ? 0 : padding;
    if (typeof p !== 'number' || !Number.isInteger(p) || p < 0) {
      throw bad(`padding must be a non-negative integer, 'valid' or 'same', got ${JSON.stringify(padding)}`);
    }
    if (H + 2 * p < kh || W + 2 * p < kw) {
      throw bad(`the ${kh}x${kw} kernel is larger than the padded ${H + 2 * p}x${W + 2 * p} input (padding ${p})`);
    }
    padTop = padLeft = p;
    Ho = Math.floor((H + 2 * p - kh) / stride) + 1;
    Wo = Math.floor((W + 2 * p - kw) / stride) + 1;
  }
  return { N, C, H, W, O, kh, kw, stride, padTop, padLeft, Ho, Wo };
}

// ---- binding windows ----------------------------------------------------------------------

/** Elements [start, start+count) of t, bound from the aligned byte offset at or before start. */
const window = bindRange;

/**
 * Runs of at most maxImages whole images such that each tensor's window (perImage elements of
 * each named tensor per image, alignment slack included) fits one storage binding. Most batches
 * are one run.
 */
function batchChunks(op: string, engine: Engine, N: number, named: [string, Tensor | readonly number[]][], perImage: number[], maxImages = N): [number, number][] {
  const slack = engine.limits.minStorageBufferOffsetAlignment;
  const largest = perImage.indexOf(Math.max(...perImage));
  const per = Math.min(Math.floor((engine.maxBinding - slack) / (perImage[largest]! * 4)), maxImages);
  if (per < 1) {
    throw opError(op, `one image of ${named[largest]![0]} takes ${perImage[largest]! * 4} bytes, above the ${engine.maxBinding}-byte storage binding limit`, ...named);
  }
  const out: [number, number][] = [];
  for (let n = 0; n < N; n += per) out.push([n, Math.min(per, N - n)]);
  return out;
}

function sameEngine(op: string, ...named: [string, Tensor | null][]): Engine {
  const ts = named.filter((n): n is [string, Tensor] => n[1] !== null);
  const engine = ts[0]![1].engine;
  if (ts.some(([, t]) => t.engine !== engine)) throw opError(op, 'tensors live on different engines', ...ts);
  return engine;
}

/**
 * A gradient's arguments: dy and the other tensor (w for dx, x for dw) float32 on one engine,
 * the geometry from the x and w shapes, and dy of the output's shape.
 */
function gradArgs(op: string, dy: Tensor, other: [string, Tensor], x: Shaped, w: Shaped, o: Conv2dOptions): { g: Conv2dGeometry; engine: Engine } {
  checkF32(op, 'dy', dy);
  checkF32(op, other[0], other[1]);
  const g = conv2dGeometry(op, x, w, o);
  const want = [g.N, g.O, g.Ho, g.Wo];
  if (dy.rank !== 4 || dy.shape.some((d, i) => d !== want[i])) throw opError(op, `dy must have shape ${shapeStr(want)}`, ['dy', dy]);
  return { g, engine: sameEngine(op, ['dy', dy], other) };
}

/** gradArgs for a gradient g at the 2x2-pooled convolution output and the pool's indices. */
function pooledArgs(op: string, gp: Tensor, indices: Tensor, x: Tensor, w: Shaped, o: Conv2dOptions): { g: Conv2dGeometry; engine: Engine } {
  checkF32(op, 'dy', gp);
  checkF32(op, 'x', x);
  const g = conv2dGeometry(op, x, w, o);
  const want = [g.N, g.O, Math.floor(g.Ho / 2), Math.floor(g.Wo / 2)];
  if (gp.rank !== 4 || gp.shape.some((d, i) => d !== want[i])) throw opError(op, `the pooled gradient must have shape ${shapeStr(want)}`, ['dy', gp]);
  if (indices.dtype !== 'u32' || indices.rank !== 4 || indices.shape.some((d, i) => d !== want[i])) {
    throw opError(op, `the pooling's indices must be u32 of shape ${shapeStr(want)}`, ['indices', indices]);
  }
  return { g, engine: sameEngine(op, ['dy', gp], ['x', x], ['indices', indices]) };
}

// ---- the implicit GEMM (forward and input gradient) ---------------------------------------

// Register blocks. Each variant is a pipeline, and lavapipe's LLVM takes about 0.3 s to compile
// a 4 x 4 block but 2-5 s for 8 x 8 (register allocation with that many live accumulators), so
// - convolutions of fewer than SMALL_MACS multiply-adds (tests, toy models) take 4 channels x 4
//   pixels: quick to compile, and their run time is negligible whatever the block (except where
//   the compiler is quick anyway, Engine.quickCompile: SwiftShader, whose one-image encode they
//   slowed by 10%);
// - larger ones take the blocks measured fastest on the paper's layers: with shared loads 8
//   channels x 8 pixels, for the weight gradient too (9-28% faster than 4 x 8 on conv2, dec2 and
//   dec3 at batch 4, for about a second more of compilation); without subgroups every lane loads
//   every operand and 4 x 8 balances loads against registers. The implicit GEMM's two-row lanes
//   (PAIRS, POOL) hold twice the accumulators of their block.
// Narrow outputs shrink the block rather than compute copies: one output channel (the decoder's
// last layer) gets a one-channel block, up to four (its last layer folded, 4 parities x 1) a
// four-channel one, and rows of at most 4 pixels (the small decoder's 4x4 planes) 4 pixels.
const SMALL_MACS = 1e7;
const macs = (g: Conv2dGeometry) => g.N * g.O * g.Ho * g.Wo * g.C * g.kh * g.kw;

/** What besides the operands' shapes sets an op's work, for the autotune's key. */
const tuneDetail = (g: Conv2dGeometry, shuffle = false) => `stride ${g.stride} pad ${g.padTop},${g.padLeft}${shuffle ? ' depth-to-space' : ''}`;

// Where the adapter compiles quickly (Engine.quickCompile) every convolution counts as large.
const isLarge = (engine: Engine, work: number) => work >= SMALL_MACS || engine.quickCompile;

function convBlock(M: number, rowPixels: number, large: boolean, sg: number): { OB: number; PX: number } {
  const PX = rowPixels <= 4 ? 4 : 8;
  if (M === 1) return { OB: 1, PX };
  if (!large) return { OB: 4, PX: 4 };
  return { OB: sg && M > 4 ? 8 : 4, PX };
}

function dwBlock(O: number, rowPixels: number, large: boolean, sg: number): { OB: number; PX: number } {
  return { OB: O === 1 ? 1 : sg && O > 4 && large ? 8 : 4, PX: rowPixels <= 4 ? 4 : 8 };
}

/**
 * Workgroup lanes for a dispatch of `lanes` invocations (the idle ones past the end still run the
 * K loop): 64, unless rounding up to 64 would add more than 1/16 idle lanes, as on small planes
 * (a 16x16 plane of one image is 32 pixel blocks) or few input channels; then one subgroup (on
 * lavapipe 8 lanes: one SIMD vector). Measured on lavapipe, 8 and 64 lanes run full workgroups
 * equally fast; 64 is kept where it fits for GPUs, whose subgroups are 32 or 64 wide.
 */
function workgroupSize(engine: Engine, lanes: number): number {
  if (Math.ceil(lanes / 64) * 64 - lanes <= lanes / 16) return 64;
  return Math.min(64, Math.max(8, engine.device.adapterInfo?.subgroupMaxSize ?? 8));
}

/**
 * The CONV or DW pipeline with its generated tap loop (and, sharing rows, the loop's variables),
 * generated only if the pipeline is not compiled yet.
 */
function gemmKernel(engine: Engine, kind: 'CONV' | 'DW', code: () => TapCode, defines: Record<string, number | boolean>, WG: number) {
  return engine.kernel({
    name: 'conv2d',
    // The defines determine the generated loops, so they keep the pipeline key exact.
    // (Every placeholder: the #if branches that do not apply are dropped by preprocess.)
    wgsl: () => {
      const { taps, vars } = code();
      return source.replaceAll(`{{${kind}_TAPS}}`, taps).replaceAll(`{{${kind}_VARS}}`, vars) + (kind === 'CONV' ? activationSource : '');
    },
    defines: { GEMM: true, [kind]: true, ...defines },
    overrides: { WG },
  });
}

// ---- generated inner loops -----------------------------------------------------------------
// The shader's innermost loops are emitted here fully unrolled: subgroupBroadcast takes only
// constant lane ids, and straight-line code keeps the input run and the accumulators in
// registers. Names: x{t} the input run, w{o}_{b} / d{o}_{q} the shared operand, acc[o][k].

// On lavapipe and SwiftShader every storage load is a per-lane branchy loop, even at a uniform
// address inside a loop, so with Engine.sharedLanes = S each of S lanes loads one value in S and
// subgroupBroadcast hands them round: 1/S of the loads.

/** Loads `count` values, value e from `load(e)` (a WGSL expression in e), as name(e), shared by `lanes` lanes. */
function shared(L: string[], count: number, lanes: number, prefix: string, load: (e: string) => string): (e: number) => string {
  if (!lanes) return (e) => load(`${e}u`);
  for (let k = 0; k < Math.ceil(count / lanes); k++) {
    L.push(`      let ${prefix}e${k} = min(sl + ${lanes * k}u, ${count - 1}u);`);
    L.push(`      let ${prefix}r${k} = ${load(`${prefix}e${k}`)};`);
  }
  return (e) => `subgroupBroadcast(${prefix}r${Math.floor(e / lanes)}, ${e % lanes}u)`;
}

/** A generated tap loop and the variables it keeps across steps (declared before the K loop). */
type TapCode = { taps: string; vars: string };

/**
 * The (channel o, pixel q, tap b) products of one step, an accumulator's KW taps together: on
 * lavapipe each value of the shader is a whole SIMD register, so a lane's 64-128 accumulators
 * live in memory, and sweeping all of them once per tap loaded and stored each KW times a step.
 * Grouped, the small preset's step at batch 20 measured 8% faster on lavapipe (257 -> 237 ms,
 * 2026-12-07) and the paper's at batch 4 4%; (o, b, q) measured the same.
 */
function tapOrder(OB: number, PX: number, KW: number): [o: number, q: number, b: number][] {
  const r: [number, number, number][] = [];
  for (let o = 0; o < OB; o++) for (let q = 0; q < PX; q++) for (let b = 0; b < KW; b++) r.push([o, q, b]);
  return r;
}

/**
 * Input t of a lane's run in CONV: zero outside the plane, unless the pass reads only inside it
 * (readsInside), where the select goes: SwiftShader's encode of one image measured 22 -> 19 ms
 * without it.
 */
const xLoad = (row: string, ok: string, t: number, inside: boolean) =>
  inside ? `X[${row} + col[${t}]]` : `select(0.0, X[${row} + col[${t}]], ${ok} && colOk[${t}])`;

/**
 * CONV: one (input channel, kernel row) step of OB channels x PX pixels x KW taps; with two rows
 * (POOL), of two output rows, the second's run from row2 into acc[o][PX + q], on the same weights.
 */
function convTaps(KW: number, SX: number, PX: number, OB: number, sg: number, inside: boolean, rows = 1): TapCode {
  const RUN = (PX - 1) * SX + KW;
  const L: string[] = [];
  // Weight e = o * KW + b of the block: channel min(m0 + o, M - 1), tap (a, b).
  const w = shared(L, OB * KW, sg, 'w', (e) => `Wt[min(m0 + ${e} / ${KW}u, u.M - 1u) * u.wM + u32(wa + i32(${e} % ${KW}u) * u.wCol)]`);
  for (let b = 0; b < KW; b++) for (let o = 0; o < OB; o++) L.push(`      let w${o}_${b} = ${w(o * KW + b)};`);
  for (let r = 0; r < rows; r++) {
    const [row, ok] = r ? ['row2', 'rowOk2'] : ['row', 'rowOk'];
    for (let t = 0; t < RUN; t++) L.push(`      let x${r}_${t} = ${xLoad(row, ok, t, inside)};`);
    for (const [o, q, b] of tapOrder(OB, PX, KW)) L.push(`      acc[${o}][${r * PX + q}] = fma(w${o}_${b}, x${r}_${q * SX + b}, acc[${o}][${r * PX + q}]);`);
  }
  return { taps: L.join('\n'), vars: '' };
}

/**
 * CONV with POOL at stride 1 (SHARE_ROWS): one step at input row a of the kh + 1 rows a lane's two
 * output rows read; wp{o}_{b}, the weights of kernel row a - 1, carry over from the step before.
 */
function sharedRowTaps(KW: number, SX: number, PX: number, OB: number, sg: number, inside: boolean): TapCode {
  const RUN = (PX - 1) * SX + KW;
  const L: string[] = [];
  const V: string[] = [];
  for (let t = 0; t < RUN; t++) L.push(`      let x${t} = ${xLoad('row', 'rowOk', t, inside)};`);
  L.push('      if (a > 0u) {');
  for (let b = 0; b < KW; b++) for (let o = 0; o < OB; o++) V.push(`  var wp${o}_${b} = 0.0;`);
  for (const [o, q, b] of tapOrder(OB, PX, KW)) L.push(`        acc[${o}][${PX + q}] = fma(wp${o}_${b}, x${q * SX + b}, acc[${o}][${PX + q}]);`);
  L.push('      }', '      if (a < u.taps) {');
  const w = shared(L, OB * KW, sg, 'w', (e) => `Wt[min(m0 + ${e} / ${KW}u, u.M - 1u) * u.wM + u32(wa + i32(${e} % ${KW}u) * u.wCol)]`);
  for (let b = 0; b < KW; b++) for (let o = 0; o < OB; o++) L.push(`        let w${o}_${b} = ${w(o * KW + b)};`);
  for (const [o, q, b] of tapOrder(OB, PX, KW)) L.push(`        acc[${o}][${q}] = fma(w${o}_${b}, x${q * SX + b}, acc[${o}][${q}]);`);
  for (let b = 0; b < KW; b++) for (let o = 0; o < OB; o++) L.push(`        wp${o}_${b} = w${o}_${b};`);
  L.push('      }');
  return { taps: L.join('\n'), vars: V.join('\n') };
}

/** DW: input t of the run at `row`, `pad` outside the input. */
const dwLoad = (row: string, ok: string, t: number) => `select(pad, X[${row} + u32(clamp(ix0 + ${t}, 0, W - 1))], ${ok} && ix0 + ${t} >= 0 && ix0 + ${t} < W)`;

/**
 * DW with DW_PAIRS: one step of PX output pixels of row oy for kernel rows i (run xa: the step
 * before's xb, or loaded afresh) and i + 1 (run xb, loaded, kept for the next step).
 */
function dwPairTaps(KW: number, SX: number, PX: number, OB: number, sg: number): TapCode {
  const RUN = (PX - 1) * SX + KW;
  const L: string[] = [];
  const V: string[] = [];
  for (let t = 0; t < RUN; t++) {
    V.push(`  var xb${t} = 0.0;`);
    L.push(`      var xa${t} = xb${t};`);
  }
  L.push('      if (fresh) {');
  for (let t = 0; t < RUN; t++) L.push(`        xa${t} = ${dwLoad('xrow', 'rowOk', t)};`);
  L.push('      }');
  for (let t = 0; t < RUN; t++) L.push(`      xb${t} = ${dwLoad('xrow2', 'rowOk2', t)};`);
  const d = shared(L, OB * PX, sg, 'd', (e) =>
    `select(0.0, DY[dyrow + min(o0 + ${e} / ${PX}u, u.M - 1u) * plane + min(ox0 + ${e} % ${PX}u, u.Wo - 1u)], ox0 + ${e} % ${PX}u < u.Wo)`);
  for (let q = 0; q < PX; q++) for (let o = 0; o < OB; o++) L.push(`      let d${o}_${q} = ${d(o * PX + q)};`);
  for (const [o, q, j] of tapOrder(OB, PX, KW)) {
    L.push(`      acc[${o}][${j}] = fma(d${o}_${q}, xa${q * SX + j}, acc[${o}][${j}]);`);
    L.push(`      acc[${o}][${KW + j}] = fma(d${o}_${q}, xb${q * SX + j}, acc[${o}][${KW + j}]);`);
  }
  return { taps: L.join('\n'), vars: V.join('\n') };
}

/** DW: the lane's run of inputs for one step, x{t} (pad outside the input: 1 in the bias lane). */
function dwRun(L: string[], RUN: number): void {
  for (let t = 0; t < RUN; t++) L.push(`      let x${t} = ${dwLoad('xrow', 'rowOk', t)};`);
}

/** DW: one step of PX output pixels of one row for OB channels x KW taps of one (c, i). */
function dwTaps(KW: number, SX: number, PX: number, OB: number, sg: number): TapCode {
  const RUN = (PX - 1) * SX + KW;
  const L: string[] = [];
  dwRun(L, RUN);
  // dy value e = o * PX + q: channel min(o0 + o, O - 1), pixel ox0 + q (zero past the row).
  const d = shared(L, OB * PX, sg, 'd', (e) =>
    `select(0.0, DY[dyrow + min(o0 + ${e} / ${PX}u, u.M - 1u) * plane + min(ox0 + ${e} % ${PX}u, u.Wo - 1u)], ox0 + ${e} % ${PX}u < u.Wo)`);
  for (let q = 0; q < PX; q++) for (let o = 0; o < OB; o++) L.push(`      let d${o}_${q} = ${d(o * PX + q)};`);
  for (const [o, q, j] of tapOrder(OB, PX, KW)) L.push(`      acc[${o}][${j}] = fma(d${o}_${q}, x${q * SX + j}, acc[${o}][${j}]);`);
  return { taps: L.join('\n'), vars: '' };
}

/**
 * DW with DY_POOL: dwTaps with dy read from the gradient at the 2x2-pooled output and the pool's
 * argmax. The step's PX pixels lie in PX / 2 windows per channel, so it loads PX / 2 pooled
 * gradients and as many indices where dwTaps loads PX values of dy; pixel q takes its window's
 * gradient where the argmax is that pixel, else zero (also past the pooled rows and columns, and
 * where the ReLU stored no argmax).
 */
function dwPooledTaps(KW: number, SX: number, PX: number, OB: number, sg: number): TapCode {
  const RUN = (PX - 1) * SX + KW;
  const HX = PX / 2;
  const L: string[] = [];
  dwRun(L, RUN);
  // Window e = o * HX + h: channel min(o0 + o, O - 1), pooled column ox0 / 2 + h.
  const at = (e: string) => `min(o0 + ${e} / ${HX}u, u.M - 1u) * plane + min(ox0 / 2u + ${e} % ${HX}u, u.PW - 1u)`;
  // Past the last pooled column the clamped window's argmax could match a pixel of the next row.
  const gp = shared(L, OB * HX, sg, 'g', (e) => `select(0.0, DY[dyrow + ${at(e)}], ox0 / 2u + ${e} % ${HX}u < u.PW)`);
  const ip = shared(L, OB * HX, sg, 'p', (e) => `IDXP[idxrow + ${at(e)}]`);
  for (let e = 0; e < OB * HX; e++) L.push(`      let gw${e} = ${gp(e)};`, `      let pw${e} = ${ip(e)};`);
  for (let q = 0; q < PX; q++) {
    for (let o = 0; o < OB; o++) {
      const e = o * HX + (q >> 1);
      L.push(`      let d${o}_${q} = select(0.0, gw${e}, pw${e} == pixrow + ox0 + ${q}u);`);
    }
  }
  for (const [o, q, j] of tapOrder(OB, PX, KW)) L.push(`      acc[${o}][${j}] = fma(d${o}_${q}, x${q * SX + j}, acc[${o}][${j}]);`);
  return { taps: L.join('\n'), vars: '' };
}

/** The register-blocked kernel for one pass; null when it has no output pixels. */
function registerConv(engine: Engine, p: ConvPass): ConvRun | null {
  const sg = engine.sharedLanes;
  // With POOL a lane holds two rows: 8 channels x 8 pixels x 2 rows of accumulators measured 25%
  // faster than 4 x 8 x 2 on the paper's conv2 (lavapipe), the shared input rows paying for them.
  const { OB, PX } = convBlock(p.M, p.tilesX, isLarge(engine, p.macs), sg);
  const KW = Math.max(p.kwTaps, 1);
  // Two output rows a lane wherever consecutive rows read consecutive input rows (stride 1: the
  // forward at stride 1, every input-gradient phase): they share kh - 1 input rows, so each input
  // row is loaded once for both. Small convolutions keep one row (quick to compile).
  const pairs = !p.pool && p.sy === 1 && p.tilesY > 1 && p.macs >= SMALL_MACS && engine.twoRowConv;
  const laneRows = pairs ? Math.ceil(p.tilesY / 2) : p.tilesY;
  const blocksX = Math.ceil(p.tilesX / PX);
  const blocks = blocksX * laneRows;
  if (blocks === 0) return null;
  // A lane per pixel block of each image of a chunk.
  const WG = workgroupSize(engine, p.N * blocks);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  const maxImages = Math.floor((maxWg * WG) / blocks);
  if (maxImages < 1) throw opError(p.op, `an output plane of ${p.tilesY}x${p.tilesX} pixels needs more than ${maxWg} workgroups`, ['x', p.input]);
  // Pooling at stride 1 or row pairs: the two rows share input rows (sharedRowTaps); pooling at a
  // larger stride: each reads its own.
  const share = (!!p.pool && p.pool.rowStep === 1) || pairs;
  const inside = readsInside(p);
  const taps = () => (share ? sharedRowTaps(KW, p.sx, PX, OB, sg, inside) : convTaps(KW, p.sx, PX, OB, sg, inside, p.pool ? 2 : 1));
  const kernel = gemmKernel(engine, 'CONV', taps, {
    SUBGROUPS: sg > 0, SHARED_LANES: sg, KW, SX: p.sx, PX, OB, RUN: (PX - 1) * p.sx + KW, SHUFFLE: !!p.shuffle, POOL: !!p.pool, PAIRS: pairs || !!p.pool, SHARE_ROWS: share, INSIDE: inside,
    ...activationDefines(p.op, p.activation),
  }, WG);
  const outChannels = p.shuffle ? p.M / 4 : p.M;
  const inImg = p.K * p.inH * p.inW;
  const outImg = outChannels * p.outH * p.outW;
  return {
    maxImages,
    dispatch(nb: number, xin: Window, yout: Window, idx?: Window) {
      const lanes = nb * blocks;
      const uniforms = new Uniforms(128)
        .u32(p.K, p.inH, p.inW, inImg, xin.base, p.M, p.tilesX, blocksX, blocks, lanes, p.outH * p.outW, p.outW, outImg, yout.base, pairs ? 2 : p.sy, p.taps)
        .i32(p.padY, p.padX)
        .u32(p.wM, p.wK, p.w0)
        .i32(p.wRow, p.wCol)
        .u32(p.oyBase, p.oyStep, p.oxBase, p.oxStep, p.bias ? 1 : 0, outChannels, p.pool?.rowStep ?? 0, p.pool ? p.outW : 0, p.tilesY)
        .build();
      // Without a bias the weights stand in for it (never read): one pipeline serves both cases.
      const bindings: Binding[] = [xin.binding, wholeBinding(p.weights), wholeBinding(p.bias ?? p.weights), yout.binding];
      if (idx) bindings.push(idx.binding);
      engine.dispatch(kernel, { uniforms, bindings, workgroups: [Math.ceil(lanes / WG), Math.ceil(p.M / OB), 1] });
    },
  };
}

/** Runs one pass with the variant's kernel, a batch chunk per dispatch. */
function convPass(p: ConvPass, variant: ConvVariant): void {
  const engine = p.input.engine;
  const run = variant === 'tiled' ? tiledConv(engine, p) : registerConv(engine, p);
  if (!run) return;
  const inImg = p.K * p.inH * p.inW;
  const outImg = (p.shuffle ? p.M / 4 : p.M) * p.outH * p.outW;
  const named: [string, Tensor][] = [[p.names[0], p.input], [p.names[1], p.out]];
  if (p.pool) named.push(['indices', p.pool.indices]);
  for (const [n0, nb] of batchChunks(p.op, engine, p.N, named, named.map((_, k) => (k ? outImg : inImg)), run.maxImages)) {
    // The indices share the output's plane size, so their window starts at the same base.
    const idx = p.pool ? window(engine, p.pool.indices, n0 * outImg, nb * outImg) : undefined;
    run.dispatch(nb, window(engine, p.input, n0 * inImg, nb * inImg), window(engine, p.out, n0 * outImg, nb * outImg), idx);
  }
}

/** What the forward's store does besides adding the bias. */
export interface Conv2dEpilogue {
  activation?: Activation | null;
  /**
   * For upsampleConv2d: the 4*O output channels of w are the parities (py*2+px)*O + o of an
   * [N, O, 2Ho, 2Wo] output, which the store interleaves; the bias then has O entries, or 4*O
   * (foldUpsample's bias, tiled over the parities: the store reads the first O).
   */
  depthToSpace?: boolean;
}

/** The forward without recording a gradient. */
export function conv2dRaw(x: Tensor, w: Tensor, bias: Tensor | null, o: Conv2dOptions = {}, e: Conv2dEpilogue = {}): Tensor {
  const op = 'conv2d';
  checkF32(op, 'x', x);
  checkF32(op, 'w', w);
  if (bias) checkF32(op, 'bias', bias);
  const g = conv2dGeometry(op, x, w, o);
  if (e.depthToSpace && g.O % 4 !== 0) throw opError(op, `depth to space needs a multiple of 4 output channels, got ${g.O}`, ['w', w]);
  const O = e.depthToSpace ? g.O / 4 : g.O;
  if (bias && (bias.rank !== 1 || (bias.shape[0] !== O && !(e.depthToSpace && bias.shape[0] === g.O)))) {
    throw opError(op, `bias must have shape [${O}] (one per output channel)`, ['x', x], ['w', w], ['bias', bias]);
  }
  const engine = sameEngine(op, ['x', x], ['w', w], ['bias', bias]);
  checkWhole(op, 'w', w);
  const variant = convVariant(engine, op, o.variant, bias ? [x.shape, w.shape, bias.shape] : [x.shape, w.shape], tuneDetail(g, e.depthToSpace),
    (v, [xt, wt, bt]) => conv2dRaw(xt!, wt!, bt ?? null, { ...o, variant: v }, e));
  const s = e.depthToSpace ? 2 : 1;
  const y = Tensor.empty([g.N, O, s * g.Ho, s * g.Wo], 'f32', engine);
  convPass({
    op, names: ['x', 'y'], input: x, weights: w, bias, out: y, macs: macs(g), N: g.N,
    K: g.C, inH: g.H, inW: g.W, M: g.O, tilesY: g.Ho, tilesX: g.Wo, outH: s * g.Ho, outW: s * g.Wo,
    sy: g.stride, sx: g.stride, taps: g.kh, kwTaps: g.kw, padY: g.padTop, padX: g.padLeft,
    wM: g.C * g.kh * g.kw, wK: g.kh * g.kw, w0: 0, wRow: g.kw, wCol: 1,
    oyBase: 0, oyStep: s, oxBase: 0, oxStep: s, activation: e.activation, shuffle: e.depthToSpace,
  }, variant);
  return y;
}

/**
 * dx = the transposed convolution of dy: per output phase (py, px) a stride-1 correlation of dy
 * with the flipped sub-kernel of taps i = py + padTop (mod s), j likewise.
 */
export function conv2dGradInput(dy: Tensor, w: Tensor, xShape: readonly number[], o: Conv2dOptions = {}): Tensor {
  const op = 'conv2d.gradInput';
  const { g, engine } = gradArgs(op, dy, ['w', w], xShape, w, o);
  checkWhole(op, 'w', w);
  const variant = convVariant(engine, op, o.variant, [dy.shape, w.shape], `x ${shapeStr(xShape)} ${tuneDetail(g)}`,
    (v, [dyt, wt]) => conv2dGradInput(dyt!, wt!, xShape, { ...o, variant: v }));
  const dx = Tensor.empty([g.N, g.C, g.H, g.W], 'f32', engine);
  const s = g.stride;
  for (let py = 0; py < s; py++) {
    for (let px = 0; px < s; px++) {
      const tilesY = Math.ceil((g.H - py) / s);
      const tilesX = Math.ceil((g.W - px) / s);
      if (tilesY <= 0 || tilesX <= 0) continue;
      const ry = (py + g.padTop) % s;
      const rx = (px + g.padLeft) % s;
      const A = ry < g.kh ? Math.ceil((g.kh - ry) / s) : 0;
      const B = rx < g.kw ? Math.ceil((g.kw - rx) / s) : 0;
      const live = A > 0 && B > 0; // a phase no tap reaches gets zeros
      const offY = Math.floor((py + g.padTop) / s);
      const offX = Math.floor((px + g.padLeft) / s);
      convPass({
        op, names: ['dy', 'dx'], input: dy, weights: w, bias: null, out: dx, macs: macs(g), N: g.N,
        K: g.O, inH: g.Ho, inW: g.Wo, M: g.C, tilesY, tilesX, outH: g.H, outW: g.W,
        sy: 1, sx: 1, taps: live ? A : 0, kwTaps: live ? B : 1, padY: A - 1 - offY, padX: B - 1 - offX,
        wM: g.kh * g.kw, wK: g.C * g.kh * g.kw,
        w0: live ? (ry + s * (A - 1)) * g.kw + rx + s * (B - 1) : 0, wRow: -s * g.kw, wCol: -s,
        oyBase: py, oyStep: s, oxBase: px, oxStep: s,
      }, variant);
    }
  }
  return dx;
}

// ---- weight and bias gradients ------------------------------------------------------------

/**
 * The register-blocked weight gradient: a lane per (c, kernel row), and with a bias one more
 * lane for db; OB output channels per workgroup row.
 */
function registerDw(op: string, engine: Engine, g: Conv2dGeometry, withBias: boolean, pooled = false): DwRun {
  const sg = engine.sharedLanes;
  const { OB, PX } = dwBlock(g.O, g.Wo, isLarge(engine, macs(g)), sg);
  // Two kernel rows a lane at stride 1 (DW_PAIRS): one input run loaded per step, not two. Where
  // kh is even (the decoder's folded kernels): an odd kh wastes a row in the last lane of each
  // channel, and it measured no faster on the encoder's 5x5 (conv2) and slower on conv1, whose
  // one input channel leaves too few lanes.
  const pairs = g.stride === 1 && g.kh % 2 === 0 && g.C >= 8 && macs(g) >= SMALL_MACS && !pooled;
  const khp = pairs ? Math.ceil(g.kh / 2) : g.kh;
  const lanes = g.C * khp + (withBias ? 1 : 0);
  const WG = workgroupSize(engine, lanes);
  const groupsX = Math.ceil(lanes / WG);
  const groupsY = Math.ceil(g.O / OB);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  if (groupsX > maxWg || groupsY > maxWg) throw opError(op, 'too many channels for one dispatch', ['x', [g.N, g.C, g.H, g.W]], ['w', [g.O, g.C, g.kh, g.kw]]);
  const taps = () => (pooled ? dwPooledTaps : pairs ? dwPairTaps : dwTaps)(g.kw, g.stride, PX, OB, sg);
  const defines = { SUBGROUPS: sg > 0, SHARED_LANES: sg, KW: g.kw, SX: g.stride, PX, OB, DB_LANE: withBias, DW_PAIRS: pairs, DY_POOL: pooled };
  const kernel = gemmKernel(engine, 'DW', taps, pooled ? { ...defines, IDX_BINDING: withBias ? 5 : 4 } : defines, WG);
  const [PH, PW] = [Math.floor(g.Ho / 2), Math.floor(g.Wo / 2)];
  return {
    groups: groupsX * groupsY,
    dispatch(xw: Window, dyw: Window, targets: Binding[], rows: number, rowsPerSeg: number, segs: number, segBase: number, idx?: Window) {
      if (pooled !== !!idx) throw new Error(`${op}: the pooled weight gradient needs the pooling's indices, and only it`);
      const uniforms = new Uniforms(96)
        .u32(g.C, g.H, g.W, g.C * g.H * g.W, xw.base, g.O, g.Ho, g.Wo, pooled ? g.O * PH * PW : g.O * g.Ho * g.Wo, dyw.base, g.stride)
        .i32(g.padTop, g.padLeft)
        .u32(g.kh, lanes, rows, rowsPerSeg, g.O * g.C * g.kh * g.kw, g.O, segBase, khp, PH, PW, idx?.base ?? 0)
        .build();
      const bindings = [xw.binding, dyw.binding, ...targets];
      if (idx) bindings.push(idx.binding);
      engine.dispatch(kernel, { uniforms, bindings, workgroups: [groupsX, groupsY, segs] });
    },
  };
}

// Split-K target: enough workgroups that every core (or GPU unit) has several, without partial
// slices outgrowing a small scratch buffer.
const DW_TARGET_GROUPS = 256;
const DW_SCRATCH_BYTES = 32 << 20;

/** dw[o,c,i,j] = sum over n, oy, ox of dy[n,o,oy,ox] * x[n,c,oy*s-padTop+i,ox*s-padLeft+j]. */
export function conv2dGradWeight(x: Tensor, dy: Tensor, wShape: readonly number[], o: Conv2dOptions = {}, into?: Tensor | null): Tensor {
  return weightGrads('conv2d.gradWeight', x, dy, wShape, o, into, null).dw;
}

/**
 * dw as conv2dGradWeight and db[o] = the sum of dy[:, o, :, :] from the same pass over dy (one
 * more lane: see shaders/conv2d.wgsl), instead of a pass of its own.
 */
export function conv2dGradWeightBias(
  x: Tensor,
  dy: Tensor,
  wShape: readonly number[],
  o: Conv2dOptions = {},
  into?: Tensor | null,
  biasInto?: Tensor | null,
): { dw: Tensor; db: Tensor } {
  const r = weightGrads('conv2d.gradWeightBias', x, dy, wShape, o, into, { into: biasInto });
  return { dw: r.dw, db: r.db! };
}

function weightGrads(
  op: string,
  x: Tensor,
  dy: Tensor,
  wShape: readonly number[],
  o: Conv2dOptions,
  into: Tensor | null | undefined,
  bias: { into?: Tensor | null } | null,
  indices: Tensor | null = null,
): { dw: Tensor; db: Tensor | null } {
  // With indices, dy is the gradient at the 2x2-pooled output (pooledArgs).
  const { g, engine } = indices ? pooledArgs(op, dy, indices, x, wShape, o) : gradArgs(op, dy, ['x', x], x, wShape, o);
  const dyShape = [g.N, g.O, g.Ho, g.Wo];
  const variant = convVariant(engine, op, o.variant, [x.shape, dyShape], `w ${shapeStr(wShape)} ${tuneDetail(g)}${bias ? ' with bias' : ''}`, (v, [xt, dyt]) => {
    const r = weightGrads(op, xt!, dyt!, wShape, { ...o, variant: v }, null, bias ? {} : null);
    return { dispose: () => [r.dw, r.db].forEach((t) => t?.dispose()) };
  });
  if (indices && variant === 'tiled') {
    // The tiled kernel reads dy itself: the pooling's backward writes it first.
    const full = maxPool2dBackward(dy, indices, dyShape, { kernel: 2, stride: 2 });
    const r = weightGrads(op, x, full, wShape, o, into, bias);
    full.dispose();
    return r;
  }
  const dw = output(op, [g.O, g.C, g.kh, g.kw], engine, into);
  const db = bias ? output(op, [g.O], engine, bias.into) : null;
  checkWhole(op, 'dw', dw);
  const dwSize = dw.size;
  const run = variant === 'tiled' ? tiledDw(op, engine, g, !!db) : registerDw(op, engine, g, !!db, !!indices);
  const maxWg = engine.limits.maxComputeWorkgroupsPerDimension;
  const xImg = g.C * g.H * g.W;
  const dyImg = indices ? g.O * Math.floor(g.Ho / 2) * Math.floor(g.Wo / 2) : g.O * g.Ho * g.Wo;
  const named: [string, Tensor][] = indices ? [['x', x], ['dy', dy], ['indices', indices]] : [['x', x], ['dy', dy]];
  const chunks = batchChunks(op, engine, g.N, named, named.map((_, k) => (k ? dyImg : xImg)));
  const maxSegs = Math.max(1, Math.min(Math.floor(Math.min(DW_SCRATCH_BYTES, engine.maxBinding) / (dwSize * 4)), maxWg));
  // Split only when the channel blocks alone give fewer than the target: a split's sum pass is a
  // dispatch more.
  const want = Math.floor(DW_TARGET_GROUPS / run.groups);
  const plans = chunks.map(([n0, nb]) => {
    const rows = nb * g.Ho;
    const rowsPerSeg = Math.ceil(rows / Math.max(1, Math.min(want, maxSegs, rows)));
    return { n0, nb, rows, rowsPerSeg, segs: Math.ceil(rows / rowsPerSeg) };
  });
  // One pass writes dw (and db) itself; otherwise partial slices go to scratch and DW_SUM adds
  // them up: once at the end when every chunk's slices fit the scratch, else after each chunk
  // (adding, after the first, what dw already holds). Scratch holds only the slices written.
  const direct = plans.length === 1 && plans[0]!.segs === 1;
  const allSegs = plans.reduce((n, p) => n + p.segs, 0);
  const sumOnce = allSegs <= maxSegs;
  const scratchSegs = sumOnce ? allSegs : Math.max(...plans.map((p) => p.segs));
  const scratch = direct ? null : Tensor.empty([scratchSegs * dwSize], 'f32', engine);
  const bScratch = direct || !db ? null : Tensor.empty([scratchSegs * g.O], 'f32', engine);
  const sum = (segs: number, accumulate: boolean) => {
    const kernel = engine.kernel({ name: 'conv2d', wgsl: source, defines: { DW_SUM: true, DB_LANE: !!db } });
    const bindings = [rangeBinding(scratch!, 0, segs * dwSize), wholeBinding(dw)];
    if (db) bindings.push(rangeBinding(bScratch!, 0, segs * g.O), wholeBinding(db));
    engine.dispatch(kernel, {
      uniforms: new Uniforms(16).u32(dwSize, segs, accumulate ? 1 : 0, db?.size ?? 0).build(),
      bindings,
      workgroups: grid1d(dwSize + (db?.size ?? 0), 256),
    });
  };
  let segBase = 0;
  for (const [k, { n0, nb, rows, rowsPerSeg, segs }] of plans.entries()) {
    const xw = window(engine, x, n0 * xImg, nb * xImg);
    const dyw = window(engine, dy, n0 * dyImg, nb * dyImg);
    const ends = segBase + segs;
    const targets = [direct ? wholeBinding(dw) : rangeBinding(scratch!, 0, ends * dwSize)];
    if (db) targets.push(direct ? wholeBinding(db) : rangeBinding(bScratch!, 0, ends * g.O));
    run.dispatch(xw, dyw, targets, rows, rowsPerSeg, segs, segBase, indices ? window(engine, indices, n0 * dyImg, nb * dyImg) : undefined);
    if (sumOnce) segBase = ends;
    else if (!direct) sum(segs, k > 0);
  }
  if (sumOnce && !direct) sum(allSegs, false);
  scratch?.dispose();
  bScratch?.dispose();
  return { dw, db };
}

/** db[o] = sum of dy[:, o, :, :]. */
export function conv2dGradBias(dy: Tensor, into?: Tensor | null): Tensor {
  const op = 'conv2d.gradBias';
  checkF32(op, 'dy', dy);
  if (dy.rank !== 4) throw opError(op, 'dy must be 4-D NCHW', ['dy', dy]);
  const engine = dy.engine;
  const [N, O, Ho, Wo] = dy.shape as [number, number, number, number];
  if (O > engine.limits.maxComputeWorkgroupsPerDimension) throw opError(op, 'too many channels for one dispatch', ['dy', dy]);
  const db = output(op, [O], engine, into);
  const img = O * Ho * Wo;
  batchChunks(op, engine, N, [['dy', dy]], [img]).forEach(([n0, nb], k) => {
    const win = window(engine, dy, n0 * img, nb * img);
    const kernel = engine.kernel({ name: 'conv2d', wgsl: source, defines: { DB: true } });
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(O, Ho * Wo, nb, img, win.base, k > 0 ? 1 : 0).build(),
      bindings: [win.binding, wholeBinding(db)],
      workgroups: [O],
    });
  });
  return db;
}

/**
 * 2-D convolution: x [N,C,H,W], w [O,C,kh,kw], bias [O] or null -> [N,O,Ho,Wo] with
 * Ho = floor((H + 2p - kh) / stride) + 1. Gradients for x, w and bias are computed only for
 * those that require one.
 */
export function conv2d(x: Tensor, w: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}): Tensor {
  const y = conv2dRaw(x, w, bias, o);
  return record(y, 'conv2d', bias ? [x, w, bias] : [x, w], (g, into) => convGrads(x, w, bias, o, g, into));
}

/** conv2d's rule: the gradients of x, w and bias that are needed, from dy = g. */
function convGrads(x: Tensor, w: Tensor, bias: Tensor | null, o: Conv2dOptions, g: Tensor, into: readonly (Tensor | null)[]): (Tensor | null)[] {
  const gx = x.requiresGrad ? conv2dGradInput(g, w, x.shape, o) : null;
  if (!bias) return [gx, w.requiresGrad ? conv2dGradWeight(x, g, w.shape, o, into[1]) : null];
  if (w.requiresGrad && bias.requiresGrad) {
    const { dw, db } = conv2dGradWeightBias(x, g, w.shape, o, into[1], into[2]);
    return [gx, dw, db];
  }
  return [gx, w.requiresGrad ? conv2dGradWeight(x, g, w.shape, o, into[1]) : null, bias.requiresGrad ? conv2dGradBias(g, into[2]) : null];
}

/**
 * maxPool2d(conv2d(x, w, bias, o), {kernel: 2, stride: 2, relu}) in one dispatch: each lane of
 * the convolution computes two output rows and pools them in its store, so the convolution's
 * output is never written (the encoder's first layer at batch 20: 164 MB). The rule routes the
 * gradient through the stored argmax (maxPool2dBackward; with relu a window the ReLU zeroed
 * stores none) to conv2d's gradients; where x needs no gradient, the weight gradient's kernel
 * reads the pooled gradient and the argmax directly (no pass, no conv-sized gradient).
 */
export function conv2dPool(x: Tensor, w: Tensor, bias: Tensor | null = null, o: Conv2dOptions = {}, pool: { relu?: boolean } = {}): Tensor {
  const op = 'conv2dPool';
  checkF32(op, 'x', x);
  checkF32(op, 'w', w);
  if (bias) checkF32(op, 'bias', bias);
  const g = conv2dGeometry(op, x, w, o);
  if (bias && (bias.rank !== 1 || bias.shape[0] !== g.O)) throw opError(op, `bias must have shape [${g.O}] (one per output channel)`, ['x', x], ['w', w], ['bias', bias]);
  if (g.Ho < 2 || g.Wo < 2) throw opError(op, `the ${g.Ho}x${g.Wo} convolution output is smaller than the 2x2 pooling window`, ['x', x], ['w', w]);
  const engine = sameEngine(op, ['x', x], ['w', w], ['bias', bias]);
  checkWhole(op, 'w', w);
  const relu = !!pool.relu;
  const recording = isGradEnabled() && [x, w, bias].some((t) => t?.requiresGrad);
  if (!recording && engine.pooledConv && pooledConvFits(engine, g)) return pooledConv(engine, x, w, bias, g, relu);
  // The fused store is the register kernel's: where the convolution's forward runs tiled (as
  // chosen for conv2d with these shapes), or the engine does not fuse, the pooling is a pass of
  // its own.
  const variant = convVariant(engine, 'conv2d', o.variant, bias ? [x.shape, w.shape, bias.shape] : [x.shape, w.shape], tuneDetail(g, false),
    (v, [xt, wt, bt]) => conv2dRaw(xt!, wt!, bt ?? null, { ...o, variant: v }));
  const [OH, OW] = [Math.floor(g.Ho / 2), Math.floor(g.Wo / 2)];
  let out: Tensor;
  let indices: Tensor;
  if (variant === 'tiled' || !engine.twoRowConv) {
    const y = conv2dRaw(x, w, bias, o);
    ({ out, indices } = maxPool2dRaw(y, { relu }, true) as { out: Tensor; indices: Tensor });
    y.dispose();
  } else {
    out = Tensor.empty([g.N, g.O, OH, OW], 'f32', engine);
    indices = Tensor.empty(out.shape, 'u32', engine);
    convPass({
      op, names: ['x', 'y'], input: x, weights: w, bias, out, macs: macs(g), N: g.N,
      K: g.C, inH: g.H, inW: g.W, M: g.O, tilesY: OH, tilesX: g.Wo, outH: OH, outW: OW,
      sy: 2 * g.stride, sx: g.stride, taps: g.kh, kwTaps: g.kw, padY: g.padTop, padX: g.padLeft,
      wM: g.C * g.kh * g.kw, wK: g.kh * g.kw, w0: 0, wRow: g.kw, wCol: 1,
      oyBase: 0, oyStep: 1, oxBase: 0, oxStep: 1, activation: relu ? 'relu' : null, pool: { indices, rowStep: g.stride },
    }, variant);
  }
  const y = record(out, op, bias ? [x, w, bias] : [x, w], (gOut, into) => {
    // Where x needs no gradient (the images), the weight gradient reads gOut and the indices
    // itself: the convolution's output gradient is never written.
    if (!x.requiresGrad && w.requiresGrad && (!bias || bias.requiresGrad)) {
      const r = weightGrads(bias ? 'conv2d.gradWeightBias' : 'conv2d.gradWeight', x, gOut, w.shape, o, into[1], bias ? { into: into[2] } : null, indices);
      return bias ? [null, r.dw, r.db] : [null, r.dw];
    }
    const dy = maxPool2dBackward(gOut, indices, [g.N, g.O, g.Ho, g.Wo], { kernel: 2, stride: 2 });
    const grads = convGrads(x, w, bias, o, dy, into);
    dy.dispose();
    return grads;
  });
  if (!y.requiresGrad) indices.dispose();
  return y;
}
