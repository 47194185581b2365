// DC-IGN's latent stage as one dispatch each way: the gradient filter and clamp of section 3.2
// (selective.ts), the reparameterisation (reparameterise.ts) and the KL term (losses.ts's klLoss)
// that a training step otherwise runs as separate ops, with batch-mean passes and
// gradient-accumulation adds between them. Same numbers, in meaning and in float32 up to the
// order of the sums; the separate ops stay for everything else (and as the tests' reference).
import rng from '../../shaders/rng.wgsl';
import source from '../../shaders/latents.wgsl';
import { Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, checkWhole, opError, sameShape, wholeBinding } from './util.js';
import { resolveNoise, type ReparameteriseOptions, type ResolvedNoise } from './reparameterise.js';
import type { ClampSource } from './selective.js';

const OP = 'sampleLatents';

export interface LatentOptions extends ReparameteriseOptions {
  /**
   * The gradient filter's pass-through latents [start, end) (gradientFilter on mu and on logvar);
   * absent, no filter: every latent trains.
   */
  passThrough?: readonly [number, number];
  /** Invariance targeting strength of the filter (gradientFilter's `invariance`), for both heads. */
  invariance?: number;
  /** mu's invariance measured relative to the code's size (gradientFilter's `relative`); logvar's stays absolute. */
  relative?: boolean;
  /** The clamp of the latents outside passThrough (selectiveClamp): 'first' on mu and logvar, 'mean' on z. */
  clamp?: ClampSource;
}

interface Plan {
  N: number;
  D: number;
  start: number;
  end: number;
  noise: ResolvedNoise;
  invariance: number | undefined;
  relative: boolean;
  clamp: ClampSource | undefined;
}

function plan(mu: Tensor, logvar: Tensor, o: LatentOptions): Plan {
  checkF32(OP, 'mu', mu);
  checkF32(OP, 'logvar', logvar);
  if (!sameShape(mu.shape, logvar.shape)) throw opError(OP, 'mu and logvar differ in shape', ['mu', mu], ['logvar', logvar]);
  if (mu.rank < 2) throw opError(OP, 'mu must be [batch, ...]', ['mu', mu]);
  checkWhole(OP, 'mu', mu);
  const N = mu.shape[0]!;
  const D = N ? mu.size / N : 0;
  const [start, end] = o.passThrough ?? [0, D];
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > D) {
    throw opError(OP, `pass-through range [${start}, ${end}) is not within [0, ${D}]`, ['mu', mu]);
  }
  const invariance = o.invariance;
  if (invariance !== undefined && !Number.isFinite(invariance)) throw opError(OP, `invariance must be finite, got ${invariance}`, ['mu', mu]);
  if ((invariance !== undefined || o.clamp) && !o.passThrough) throw opError(OP, 'invariance and clamp need a passThrough range', ['mu', mu]);
  if (o.relative && invariance === undefined) throw opError(OP, 'relative needs an invariance strength', ['mu', mu]);
  if (o.clamp !== undefined && o.clamp !== 'first' && o.clamp !== 'mean') throw opError(OP, `clamp must be 'first' or 'mean', got '${o.clamp}'`, ['mu', mu]);
  return { N, D, start, end, noise: resolveNoise(OP, o, mu), invariance, relative: !!o.relative, clamp: o.clamp };
}

function uniforms(p: Plan): ArrayBuffer {
  const r = p.noise;
  return new Uniforms(48).u32(p.N, p.D, p.start, p.end, r.seed[0], r.seed[1], r.step).f32(p.invariance ?? 0, r.lo, r.hi).u32(0, 0).build();
}

/**
 * The latent stage of a training step: what
 *   mu' = selectiveClamp(gradientFilter(mu, ...)), logvar' likewise (clamp 'first'),
 *   z = reparameterise(mu', logvar'), then selectiveClamp(z, ..., 'mean') (clamp 'mean'),
 *   kl = klLoss(mu', logvar')
 * compute, with the filter's options for both heads (relative: mu's only, as the step uses it).
 * Without passThrough it is reparameterise and klLoss alone.
 *
 * kl's gradient reaches mu and logvar through z's backward rule, which adds it to the
 * reparameterisation's in the same dispatch: kl's own rule only hands its incoming gradient on
 * (kl is recorded as depending on z, so the tape runs its rule first). Differentiate kl together
 * with something that depends on z, as the VAE's loss does; a graph that reaches kl but not z
 * gives mu and logvar no KL gradient (klLoss is the op for the KL alone).
 */
export function sampleLatents(mu: Tensor, logvar: Tensor, options: LatentOptions): { z: Tensor; kl: Tensor } {
  const p = plan(mu, logvar, options);
  const engine = mu.engine;
  const eps = p.noise.eps;
  const z = Tensor.empty(mu.shape, 'f32', engine);
  const kl = Tensor.empty([], 'f32', engine);
  const extra = optional(5, { EPS: eps });
  const kernel = engine.kernel({ name: 'latents', wgsl: rng + source, defines: { ...extra.defines, FIRST: p.clamp === 'first', MEAN: p.clamp === 'mean' } });
  engine.dispatch(kernel, { uniforms: uniforms(p), bindings: [mu, logvar, z, kl, ...extra.tensors].map(wholeBinding), workgroups: [1] });
  const pending: { gk: Tensor | null } = { gk: null };
  const zOut = record(z, OP, [mu, logvar], (gz) => {
    const gk = pending.gk;
    pending.gk = null;
    const [gm, gl] = latentsBackward(mu, logvar, gz, gk, p);
    gk?.dispose();
    if (!mu.requiresGrad) gm.dispose();
    if (!logvar.requiresGrad) gl.dispose();
    return [mu.requiresGrad ? gm : null, logvar.requiresGrad ? gl : null];
  });
  const klOut = record(kl, `${OP} kl`, [zOut], (gk) => {
    pending.gk?.dispose();
    pending.gk = gk.view(gk.shape);
    return [null];
  });
  return { z: zOut, kl: klOut };
}

/** The tensors given, bound from binding `first` on in this order, and the NAME_AT defines that number them. */
function optional(first: number, named: Record<string, Tensor | null>): { defines: Record<string, number>; tensors: Tensor[] } {
  const defines: Record<string, number> = {};
  const tensors: Tensor[] = [];
  for (const [name, t] of Object.entries(named)) {
    if (!t) continue;
    defines[`${name}_AT`] = first + tensors.length;
    tensors.push(t);
  }
  return { defines, tensors };
}

function latentsBackward(mu: Tensor, logvar: Tensor, gz: Tensor, gk: Tensor | null, p: Plan): [Tensor, Tensor] {
  const engine = mu.engine;
  const eps = p.noise.eps;
  const gm = Tensor.empty(mu.shape, 'f32', engine);
  const gl = Tensor.empty(logvar.shape, 'f32', engine);
  // mu is read for the KL's gradient and for invariance targeting only.
  const invariance = p.invariance !== undefined;
  const extra = optional(5, { MU: gk || invariance ? mu : null, EPS: eps, GK: gk });
  const kernel = engine.kernel({ name: 'latents', wgsl: rng + source, defines: { ...extra.defines, BACKWARD: true, INVARIANCE: invariance, RELATIVE: p.relative } });
  engine.dispatch(kernel, { uniforms: uniforms(p), bindings: [logvar, gz, gm, gl, ...extra.tensors].map(wholeBinding), workgroups: [1] });
  return [gm, gl];
}
