// One DC-IGN training step on the GPU: encoder -> gradient filter -> clamp (on mu and logvar, as
// the original) -> reparameterise -> decoder -> BCE + KL -> backward -> optimizer. Nothing is
// read back; the losses stay on the GPU until someone asks for them.
import { backward, zeroGrad } from '../autograd/tape.js';
import { add } from '../kernels/elementwise.js';
import { bceLoss, klLoss } from '../kernels/losses.js';
import { reparameterise } from '../kernels/reparameterise.js';
import { gradientFilter, selectiveClamp } from '../kernels/selective.js';
import { keep, tidy, type Tensor } from '../tensor.js';
import type { Dcign } from '../model/dcign.js';
import { passThrough, type BatchKind, type Procedure } from './schedule.js';

export interface StepOptions {
  procedure: Procedure;
  /** Invariance targeting strength (section 3.2.1); 0 or undefined zeroes the clamped gradients. */
  invariance?: number;
  /** Noise key: eps is a function of (seed, step, element). */
  seed: number;
  step: number;
  /** Fixed noise instead of drawn noise (tests). */
  eps?: Tensor;
}

export interface Optimizer {
  step(): void;
}

export interface StepLosses {
  bce: Tensor;
  kl: Tensor;
}

/** Applies the section 3.2 treatment to one encoder head. */
function clampHead(h: Tensor, kind: BatchKind, latents: number, invariance?: number): Tensor {
  const [s, e] = passThrough(kind, latents);
  return selectiveClamp(gradientFilter(h, s, e, invariance ? { invariance } : {}), s, e);
}

/** The forward pass of a training step, returning the two loss terms (graph recorded). */
export function forwardLosses(model: Dcign, images: Tensor, kind: BatchKind, o: StepOptions): StepLosses & { recon: Tensor } {
  let { mu, logvar } = model.encode(images);
  if (o.procedure === 'clamped') {
    mu = clampHead(mu, kind, model.config.latents, o.invariance);
    logvar = clampHead(logvar, kind, model.config.latents, o.invariance);
  }
  const z = o.eps ? reparameterise(mu, logvar, { eps: o.eps }) : reparameterise(mu, logvar, { seed: o.seed, step: o.step });
  const recon = model.decode(z);
  return { bce: bceLoss(recon, images), kl: klLoss(mu, logvar), recon };
}

/**
 * Forward, backward and update. Returns the loss terms as GPU scalars (kept: dispose them);
 * everything else the step made is freed before it returns.
 */
export function trainStep(model: Dcign, optimizer: Optimizer, images: Tensor, kind: BatchKind, o: StepOptions): StepLosses {
  const params = [...model.parameters().values()];
  return tidy(() => {
    const { bce, kl } = forwardLosses(model, images, kind, o);
    backward(add(bce, kl));
    optimizer.step();
    zeroGrad(params);
    return { bce: keep(bce), kl: keep(kl) };
  });
}
