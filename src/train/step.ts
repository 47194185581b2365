// One DC-IGN training step on the GPU: encoder -> gradient filter, clamp, reparameterise and KL
// (one kernel: sampleLatents) -> decoder -> BCE -> backward -> optimizer. Nothing is read back;
// the losses stay on the GPU until someone asks for them.
import { backward, zeroGrad } from '../autograd/tape.js';
import { bceLoss } from '../kernels/losses.js';
import { sampleLatents, type LatentOptions } from '../kernels/latents.js';
import type { ClampSource, InvarianceMode } from '../kernels/selective.js';
import { keep, tidy, type Tensor } from '../tensor.js';
import type { Dcign } from '../model/dcign.js';
import { passThrough, type BatchKind, type Procedure } from './schedule.js';

/** Which latents a random batch trains in the encoder (StepOptions.randomEncoder). */
export type RandomEncoder = 'all' | 'scene';

export interface StepOptions {
  procedure: Procedure;
  /** Invariance targeting strength (section 3.2.1); 0 or undefined zeroes the clamped gradients. */
  invariance?: number;
  /**
   * 'absolute' (default): the pull on the clamped means is strength * (mu - batch mean).
   * 'relative': the means' pull is measured against the code's mean square, so the encoder cannot
   * meet it by shrinking the code (gradientFilter's `relative`); logvar keeps the absolute pull.
   */
  invarianceMode?: InvarianceMode;
  /**
   * With the random procedure: which latents a random batch trains in the encoder. 'all'
   * (default); 'scene': z1..z3 only, the identity latents' encoder gradients zeroed (the decoder
   * still learns from every image's own code), so that batches where pose and face vary together
   * do not teach the identity latents pose.
   */
  randomEncoder?: RandomEncoder;
  /**
   * What a clamped batch's clamped latents become (section 3.2). 'first' (default, the original
   * code): sample 0's mu and logvar, each image then drawing its own noise. 'mean' (the paper's
   * text and its ports): the batch mean of the sampled z, so the decoder gets one code for the
   * whole batch, its noise averaged over the batch and no single view's pose in it. Either way
   * the clamped latents get no gradient (or invariance targeting's) and so no KL gradient.
   */
  clamp?: ClampSource;
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

/** The forward pass of a training step, returning the two loss terms (graph recorded). */
export function forwardLosses(model: Dcign, images: Tensor, kind: BatchKind, o: StepOptions): StepLosses & { recon: Tensor } {
  const { mu, logvar } = model.encode(images);
  const noise = o.eps ? { eps: o.eps } : { seed: o.seed, step: o.step };
  const { z, kl } = sampleLatents(mu, logvar, { ...latentOptions(model.config.latents, kind, o), ...noise });
  const recon = model.decode(z);
  return { bce: bceLoss(recon, images), kl, recon };
}

/** The filter and clamp of a batch: which latents it trains, and what the others become. */
function latentOptions(latents: number, kind: BatchKind, o: StepOptions): LatentOptions {
  if (o.procedure === 'clamped') {
    const invariance = o.invariance ? { invariance: o.invariance, relative: o.invarianceMode === 'relative' } : {};
    return { passThrough: passThrough(kind, latents), clamp: o.clamp ?? 'first', ...invariance };
  }
  // The scene latents are those before a SHAPE batch's pass-through (identity) range.
  if (o.randomEncoder === 'scene') return { passThrough: [0, passThrough('shape', latents)[0]] };
  return {};
}

/**
 * Forward, backward and update. Returns the loss terms as GPU scalars (kept: dispose them);
 * everything else the step made is freed before it returns.
 */
export function trainStep(model: Dcign, optimizer: Optimizer, images: Tensor, kind: BatchKind, o: StepOptions): StepLosses {
  const params = [...model.parameters().values()];
  return tidy(() => {
    const { bce, kl } = forwardLosses(model, images, kind, o);
    backward([bce, kl]);
    optimizer.step();
    zeroGrad(params);
    return { bce: keep(bce), kl: keep(kl) };
  });
}
