// Section 4.1's inference with the encoder as summary statistic: approximate Bayesian computation
// by MCMC over the renderer's scene S. Pure logic (proposals, the kernel, chain bookkeeping);
// src/eval/experiments.ts renders and encodes. Browser-safe.
import { SHAPE_DIM, TEXTURE_DIM, type FaceParams } from '../data/face-model.js';
import type { Rng } from '../data/rng.js';
import { FACTOR_RANGE, SCENE_FACTORS, type SceneFactor } from './factors.js';

export interface AbcSettings {
  /** Random-walk standard deviation of each angle, radians (about a twentieth of its range). */
  angleStep: Record<SceneFactor, number>;
  /**
   * Width of the kernel exp(-rho / epsilon) on the summary distance rho, as a fraction of the
   * median distance of the chains' initial states; one epsilon per summary, so the encoder's and
   * the pixels' chains are equally strict relative to where they start.
   */
  epsilonFactor: number;
}

export const ABC_DEFAULTS: AbcSettings = { angleStep: { azimuth: 0.15, elevation: 0.06, light: 0.15 }, epsilonFactor: 0.01 };

export type Block = 'angles' | 'shape' | 'texture';

/** Folds v back into [lo, hi] (a mirror at each end keeps the random walk symmetric, so the uniform prior's ratio is 1). */
export function reflect(v: number, lo: number, hi: number): number {
  const w = hi - lo;
  let x = (v - lo) % (2 * w);
  if (x < 0) x += 2 * w;
  return lo + (x <= w ? x : 2 * w - x);
}

/** A scene from the prior: uniform angles over the rendered ranges, N(0, I) identity coefficients. */
export function priorSample(rng: Rng): FaceParams {
  const [a, e, l] = SCENE_FACTORS.map((f) => rng.range(...FACTOR_RANGE[f]));
  return { azimuth: a!, elevation: e!, light: l!, shape: rng.normals(SHAPE_DIM), texture: rng.normals(TEXTURE_DIM) };
}

/**
 * One proposal, updating one block chosen uniformly: the three angles by a reflected Gaussian
 * random walk, or the shape or texture coefficients by the paper's elliptical proposal
 * S' = sqrt(1 - a^2) S + a theta with a ~ U(-1, 1), theta ~ N(0, I). Both leave the prior
 * invariant (reversible with respect to it), so acceptance depends on the kernel alone. The number
 * of draws is the same for every state, so chains that share a random stream stay in step.
 */
export function propose(s: FaceParams, rng: Rng, settings: AbcSettings = ABC_DEFAULTS): { params: FaceParams; block: Block } {
  const u = rng.uniform();
  const block: Block = u < 1 / 3 ? 'angles' : u < 2 / 3 ? 'shape' : 'texture';
  const next: FaceParams = { ...s, shape: [...s.shape], texture: [...s.texture] };
  if (block === 'angles') {
    for (const f of SCENE_FACTORS) next[f] = reflect(s[f] + settings.angleStep[f] * rng.normal(), ...FACTOR_RANGE[f]);
  } else {
    const a = rng.range(-1, 1);
    const c = Math.sqrt(1 - a * a);
    const key = block === 'shape' ? 'shape' : 'texture';
    const theta = rng.normals(key === 'shape' ? SHAPE_DIM : TEXTURE_DIM);
    next[key] = s[key].map((v, i) => c * v + a * theta[i]!);
  }
  return { params: next, block };
}

/** Metropolis-Hastings acceptance for the kernel exp(-rho / epsilon) with a prior-reversible proposal. */
export function acceptProbability(proposed: number, current: number, epsilon: number): number {
  if (!Number.isFinite(proposed)) return 0;
  return Math.min(1, Math.exp(-(proposed - current) / epsilon));
}

/** One chain: its state, the distance of its summary to the observation's, and the pixel MSE of its render. */
export class AbcChain {
  state: FaceParams;
  distance = NaN;
  mse = NaN;
  epsilon = NaN;
  accepted = 0;
  proposed = 0;
  readonly trace: number[] = [];
  private pending: FaceParams | null = null;

  constructor(private readonly rng: Rng, private readonly settings: AbcSettings = ABC_DEFAULTS) {
    this.state = priorSample(rng);
  }

  /** The initial state's distance and MSE (iteration 0). */
  start(distance: number, mse: number): void {
    this.distance = distance;
    this.mse = mse;
    this.trace.push(mse);
  }

  propose(): FaceParams {
    this.pending = propose(this.state, this.rng, this.settings).params;
    return this.pending;
  }

  /** Accepts or rejects the pending proposal; always draws one uniform, so paired chains stay in step. */
  decide(distance: number, mse: number): boolean {
    if (!this.pending) throw new Error('AbcChain.decide: no pending proposal');
    const u = this.rng.uniform();
    const ok = u < acceptProbability(distance, this.distance, this.epsilon);
    this.proposed++;
    if (ok) {
      this.state = this.pending;
      this.distance = distance;
      this.mse = mse;
      this.accepted++;
    }
    this.pending = null;
    this.trace.push(this.mse);
    return ok;
  }
}

export function median(x: readonly number[]): number {
  const s = [...x].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
