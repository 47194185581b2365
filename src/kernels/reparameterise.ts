// The VAE sampling step z = mu + sigma * eps, sigma = exp(0.5 * logvar), as the original
// modules/Reparametrize.lua computes it, with eps drawn on the GPU.
import rng from '../../shaders/rng.wgsl';
import source from '../../shaders/reparameterise.wgsl';
import { grid1d, Uniforms } from '../gpu/engine.js';
import { record } from '../autograd/tape.js';
import { Tensor } from '../tensor.js';
import { checkF32, chunks, opError, rangeBinding, sameShape } from './util.js';
import { seedWords } from './fill.js';

/**
 * logvar is clamped to [-20, 20] before exp: sigma then lies in [4.5e-5, 2.2e4]. The prior has
 * sigma 1, so a posterior outside that range means the encoder is diverging; the clamp keeps
 * that from turning into Inf/NaN (exp(0.5 * logvar) overflows float32 above 177), which would
 * poison the optimizer's second-moment state for good, and the zero gradient where clamped
 * stops the optimizer pushing logvar further out.
 */
export const LOGVAR_MIN = -20;
export const LOGVAR_MAX = 20;

export interface ReparameteriseOptions {
  /** Use this N(0,1) noise (same shape as mu) instead of drawing it; no gradient flows to it. */
  eps?: Tensor;
  /** Key of the drawn noise: any non-negative safe integer. Required unless eps is given. */
  seed?: number;
  /** Second key word, e.g. the training step, so one seed gives fresh noise every step (u32). */
  step?: number;
  logvarMin?: number;
  logvarMax?: number;
}

/** The noise options checked: explicit eps, or the generator's key words. */
export interface ResolvedNoise {
  eps: Tensor | null;
  seed: [number, number];
  step: number;
  lo: number;
  hi: number;
}

export function resolveNoise(op: string, o: ReparameteriseOptions, mu: Tensor): ResolvedNoise {
  const lo = o.logvarMin ?? LOGVAR_MIN;
  const hi = o.logvarMax ?? LOGVAR_MAX;
  if (!(lo <= hi)) throw opError(op, `logvar range [${lo}, ${hi}] is empty`, ['mu', mu]);
  if (o.eps) {
    checkF32(op, 'eps', o.eps);
    if (!sameShape(o.eps.shape, mu.shape)) throw opError(op, 'eps must have the shape of mu', ['mu', mu], ['eps', o.eps]);
    return { eps: o.eps, seed: [0, 0], step: 0, lo, hi };
  }
  if (o.seed === undefined) throw opError(op, 'give a seed (or an eps tensor)', ['mu', mu]);
  const step = o.step ?? 0;
  if (!Number.isInteger(step) || step < 0 || step > 0xffffffff) throw opError(op, `step must be a u32, got ${step}`, ['mu', mu]);
  return { eps: null, seed: seedWords(o.seed), step, lo, hi };
}

// One pass of the shader over all elements, chunked so no binding passes the limit.
function run(first: Tensor, logvar: Tensor, r: ResolvedNoise, backward: boolean): Tensor {
  const engine = first.engine;
  const out = Tensor.empty(first.shape, 'f32', engine);
  const kernel = engine.kernel({
    name: 'reparameterise',
    wgsl: rng + source,
    defines: { BACKWARD: backward, EXPLICIT: r.eps !== null },
  });
  for (const [start, count] of chunks(engine, out.size)) {
    const part = (t: Tensor) => rangeBinding(t, start, count);
    const bindings = [part(first), part(logvar)];
    if (r.eps) bindings.push(part(r.eps));
    bindings.push(part(out));
    engine.dispatch(kernel, {
      uniforms: new Uniforms(32).u32(count, start, r.seed[0], r.seed[1], r.step).f32(r.lo, r.hi).u32(0).build(),
      bindings,
      workgroups: grid1d(count, 256),
    });
  }
  return out;
}

/**
 * z = mu + exp(0.5 * clamp(logvar)) * eps with eps ~ N(0, 1): drawn on the GPU as a pure
 * function of (seed, step, element index), or given as `options.eps`. Gradients: to mu the
 * incoming gradient; to logvar g * 0.5 * sigma * eps, zero where logvar was clamped.
 */
export function reparameterise(mu: Tensor, logvar: Tensor, seed: number, step?: number, options?: ReparameteriseOptions): Tensor;
export function reparameterise(mu: Tensor, logvar: Tensor, options: ReparameteriseOptions): Tensor;
export function reparameterise(
  mu: Tensor,
  logvar: Tensor,
  seedOrOptions: number | ReparameteriseOptions,
  step = 0,
  options: ReparameteriseOptions = {},
): Tensor {
  checkF32('reparameterise', 'mu', mu);
  checkF32('reparameterise', 'logvar', logvar);
  if (!sameShape(mu.shape, logvar.shape)) throw opError('reparameterise', 'mu and logvar differ in shape', ['mu', mu], ['logvar', logvar]);
  const o = typeof seedOrOptions === 'number' ? { ...options, seed: seedOrOptions, step, eps: undefined } : seedOrOptions;
  const r = resolveNoise('reparameterise', o, mu);
  const z = run(mu, logvar, r, false);
  return record(z, 'reparameterise', [mu, logvar], (g) => [mu.requiresGrad ? g : null, logvar.requiresGrad ? run(g, logvar, r, true) : null]);
}
