// A float64 reference of a training step's latent stage, composed from the per-op references:
// gradient filter and clamp (selective.ts), reparameterisation and KL; forward and backward.
// Tests only.
import { zip, type Arr } from './cpu.js';
import { gradientFilterBackward, relativeInvarianceBackward, selectiveClamp, selectiveClampMean } from './selective.js';
import { reparameterise, reparameteriseBackward } from './reparameterise.js';
import { klLoss, klLossGrad } from './losses.js';

export interface LatentRefOptions {
  /** The filter's pass-through range; null: no filter. */
  range: [number, number] | null;
  clamp?: 'first' | 'mean';
  invariance?: number;
  invarianceMode?: 'absolute' | 'relative';
}

export interface LatentRef {
  z: Arr;
  kl: number;
  /** The heads after the clamp, as the reparameterisation and the KL read them. */
  mu: Arr;
  lv: Arr;
}

export function latentsRef(mu0: Arr, lv0: Arr, eps: Arr, o: LatentRefOptions): LatentRef {
  const { range, clamp } = o;
  // 'first' clamps the heads to sample 0's; 'mean' clamps the sampled z to its batch mean.
  const first = range && clamp === 'first';
  const mu = first ? selectiveClamp(mu0, range[0], range[1]) : mu0;
  const lv = first ? selectiveClamp(lv0, range[0], range[1]) : lv0;
  const z0 = reparameterise(mu, lv, eps);
  const z = range && clamp === 'mean' ? selectiveClampMean(z0, range[0], range[1]) : z0;
  return { z, kl: klLoss(mu, lv), mu, lv };
}

/** Gradients to the heads mu0 and logvar0 from dz (the gradient of z) and gk (of kl). */
export function latentsBackwardRef(mu0: Arr, lv0: Arr, eps: Arr, o: LatentRefOptions, dz: Arr, gk: number): [Arr, Arr] {
  const { mu, lv } = latentsRef(mu0, lv0, eps, o);
  // Both clamps pass their gradient straight through to each sample's own input.
  let [dmu, dlv] = reparameteriseBackward(dz, lv, eps);
  const [kmu, klv] = klLossGrad(mu, lv, gk);
  dmu = zip(dmu, kmu, (a, b) => a + b);
  dlv = zip(dlv, klv, (a, b) => a + b);
  const { range, invariance } = o;
  if (range) {
    // The filter then zeroes or retargets them; the relative invariance applies to the means,
    // logvar keeps the absolute pull.
    dmu = o.invarianceMode === 'relative' && invariance ? relativeInvarianceBackward(dmu, mu0, range[0], range[1], invariance) : gradientFilterBackward(dmu, mu0, range[0], range[1], invariance);
    dlv = gradientFilterBackward(dlv, lv0, range[0], range[1], invariance);
  }
  return [dmu, dlv];
}
