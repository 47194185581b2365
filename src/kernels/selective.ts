// DC-IGN's latent clamping (section 3.2) and invariance targeting (3.2.1), reproducing the
// original Torch modules modules/SelectiveOutputClamp.lua and modules/SelectiveGradientFilter.lua.
// There, each encoder head (mu and logvar) is Linear -> SelectiveGradientFilter ->
// SelectiveOutputClamp, and both modules get the same pass-through indices per batch.
//
// z is seen as [batch, D] with D the elements per sample; the pass-through range
// [passStart, passEnd) indexes D (0-based, end exclusive; Torch's {4, dim_hidden} is [3, dim)).
// An empty range (passStart == passEnd) is the original's `passthrough = nil`.
import source from '../../shaders/selective.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, chunks, opError, rangeBinding, wholeBinding } from './util.js';

function layout(op: string, z: Tensor, passStart: number, passEnd: number): { B: number; D: number } {
  checkF32(op, 'z', z);
  if (z.rank < 2) throw opError(op, 'z must be [batch, ...]', ['z', z]);
  const B = z.shape[0]!;
  const D = B ? z.size / B : 0;
  if (!Number.isInteger(passStart) || !Number.isInteger(passEnd) || passStart < 0 || passEnd < passStart || passEnd > D) {
    throw opError(op, `pass-through range [${passStart}, ${passEnd}) is not within [0, ${D}]`, ['z', z]);
  }
  if (D * 4 > z.engine.maxBinding) throw opError(op, 'one sample exceeds a storage binding', ['z', z]);
  return { B, D };
}

function header(n: number, base: number, D: number, start: number, end: number, count: number, first: number, strength: number): ArrayBuffer {
  return new Uniforms(32).u32(n, base, D, start, end, count, first).f32(strength).build();
}

/** How invariance targeting measures a batch's spread: in the code's units, or relative to its size. */
export type InvarianceMode = 'absolute' | 'relative';

/** What the clamped latents become: sample 0's values (the original code), or the batch mean. */
export type ClampSource = 'first' | 'mean';

/**
 * SelectiveOutputClamp: every sample's latents become sample 0's, except the pass-through
 * range, which keeps each sample's own values (updateOutput). With `from: 'mean'` they become
 * the batch mean instead, as the paper's text and its public ports describe the clamp. The
 * backward passes the gradient through unchanged to each sample's own input, clamped latents
 * included (updateGradInput copies gradOutput): a straight-through rule, not the derivative of
 * the forward, which would send the clamped latents' gradients to sample 0 (or spread them over
 * the batch). Zeroing them, or invariance targeting, is gradientFilter's job.
 */
export function selectiveClamp(z: Tensor, passStart: number, passEnd: number, from: ClampSource = 'first'): Tensor {
  const { B, D } = layout('selectiveClamp', z, passStart, passEnd);
  if (from !== 'first' && from !== 'mean') throw opError('selectiveClamp', `from must be 'first' or 'mean', got '${from}'`, ['z', z]);
  const engine = z.engine;
  const out = Tensor.empty(z.shape, 'f32', engine);
  const mean = from === 'mean';
  const sums = mean && z.size ? columnSums(z, D, passStart, passEnd) : null;
  const kernel = engine.kernel({ name: 'selective', wgsl: source, defines: mean ? { CLAMP: true, FROM_MEAN: true } : { CLAMP: true } });
  for (const [start, count] of chunks(engine, z.size)) {
    if (!count) continue;
    const part = (t: Tensor) => rangeBinding(t, start, count);
    engine.dispatch(kernel, {
      uniforms: header(count, start, D, passStart, passEnd, mean ? B : 0, 0, 0),
      bindings: [part(z), sums ? wholeBinding(sums) : rangeBinding(z, 0, D), part(out)],
      workgroups: grid1d(count, 256),
    });
  }
  sums?.dispose();
  return record(out, 'selectiveClamp', [z], (g) => [g]);
}

/** Per-latent sums of z over the batch [D], accumulated chunk by chunk in a fixed order. */
function columnSums(z: Tensor, D: number, passStart: number, passEnd: number): Tensor {
  return columnMoments(z, D, passStart, passEnd, false).sums;
}

/** columnSums, and with `squares` the per-latent sums of z * z as well. */
function columnMoments(z: Tensor, D: number, passStart: number, passEnd: number, squares: boolean): { sums: Tensor; squares?: Tensor } {
  const engine = z.engine;
  const sums = Tensor.empty([D], 'f32', engine);
  const sq = squares ? Tensor.empty([D], 'f32', engine) : undefined;
  const kernel = engine.kernel({ name: 'selective', wgsl: source, defines: { MEAN: true, SQUARES: squares } });
  chunks(engine, z.size).forEach(([start, count], k) => {
    engine.dispatch(kernel, {
      uniforms: header(D, start, D, passStart, passEnd, count, k === 0 ? 1 : 0, 0),
      bindings: [rangeBinding(z, start, count), wholeBinding(sums), ...(sq ? [wholeBinding(sq)] : [])],
      workgroups: grid1d(D, 256),
    });
  });
  return { sums, squares: sq };
}

/** (S, W): the filtered latents' sum of squares and squared deviation from their batch means. */
function spreads(sums: Tensor, squares: Tensor, B: number, D: number, passStart: number, passEnd: number): Tensor {
  const engine = sums.engine;
  const sp = Tensor.empty([2], 'f32', engine);
  const kernel = engine.kernel({ name: 'selective', wgsl: source, defines: { SPREADS: true } });
  engine.dispatch(kernel, { uniforms: header(1, 0, D, passStart, passEnd, B, 0, 0), bindings: [wholeBinding(sums), wholeBinding(squares), wholeBinding(sp)], workgroups: [1, 1, 1] });
  return sp;
}

export interface GradientFilterOptions {
  /**
   * Invariance targeting (force_invariance with invariance_strength): outside the pass-through
   * range the gradient becomes strength * (z - mean over the batch of z) instead of 0. The
   * paper found 1/100 to work.
   */
  invariance?: number;
  /**
   * Measure the invariance relative to the code's size: the gradient of (strength / 2) * W / s,
   * with W the squared deviation of the filtered latents from their batch means and s their mean
   * square over the batch. Scaling the code leaves it unchanged, so the encoder cannot meet it by
   * shrinking the code as a whole, as it does under the absolute pull.
   */
  relative?: boolean;
}

/**
 * SelectiveGradientFilter: the identity forward (a view of z, no copy). The backward keeps the
 * incoming gradient inside the pass-through range and replaces it outside: by 0, or with
 * `invariance` by strength * (z_b - mean_b' z_b'), the batch mean over all samples (sample 0
 * included) per latent, independent of the incoming gradient (updateGradInput). That is the
 * gradient of (strength / 2) * sum_b |z_b - mean|^2 with the mean held constant, so descending
 * it pulls the latents that should be invariant towards their batch mean. (The original trains
 * by ascending the lower bound, with gradients of -loss, so the same numbers there push away
 * from the mean for a positive strength; here gradients are of a loss to minimise.)
 */
export function gradientFilter(z: Tensor, passStart: number, passEnd: number, options: GradientFilterOptions = {}): Tensor {
  const { B, D } = layout('gradientFilter', z, passStart, passEnd);
  const strength = options.invariance;
  if (strength !== undefined && !Number.isFinite(strength)) throw opError('gradientFilter', `invariance must be finite, got ${strength}`, ['z', z]);
  if (options.relative && strength === undefined) throw opError('gradientFilter', 'relative needs an invariance strength', ['z', z]);
  const out = z.view(z.shape);
  return record(out, 'gradientFilter', [z], (g) => [filterBackward(g, z, B, D, passStart, passEnd, strength, !!options.relative)]);
}

function filterBackward(g: Tensor, z: Tensor, B: number, D: number, passStart: number, passEnd: number, strength: number | undefined, relative: boolean): Tensor {
  const engine = z.engine;
  const gi = Tensor.empty(z.shape, 'f32', engine);
  const invariance = strength !== undefined;
  const moments = invariance && z.size ? columnMoments(z, D, passStart, passEnd, relative) : null;
  const sums = moments?.sums ?? null;
  const sp = moments?.squares ? spreads(moments.sums, moments.squares, B, D, passStart, passEnd) : null;
  moments?.squares?.dispose();
  const kernel = engine.kernel({ name: 'selective', wgsl: source, defines: { FILTER: true, INVARIANCE: invariance, RELATIVE: !!sp } });
  for (const [start, count] of chunks(engine, z.size)) {
    if (!count) continue;
    const part = (t: Tensor) => rangeBinding(t, start, count);
    const bindings = sums ? [part(g), part(z), wholeBinding(sums), ...(sp ? [wholeBinding(sp)] : []), part(gi)] : [part(g), part(gi)];
    engine.dispatch(kernel, {
      uniforms: header(count, start, D, passStart, passEnd, B, 0, strength ?? 0),
      bindings,
      workgroups: grid1d(count, 256),
    });
  }
  sums?.dispose();
  sp?.dispose();
  return gi;
}
