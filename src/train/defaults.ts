// Per-preset training defaults shared by `npm run train` and scripts/overfit.ts.
import type { ClampSource, InvarianceMode } from '../kernels/selective.js';
import type { RandomEncoder } from './step.js';

export const DEFAULT_STEPS: Record<string, number> = { paper: 20000, small: 4000, tiny: 300 };

// The original's 5e-4, except `small`: its first 400 steps reached BCE 5962 per image at 1e-3
// against 6023 at 5e-4 (bench/RESULTS.md).
export const DEFAULT_LR: Record<string, number> = { paper: 5e-4, small: 1e-3, tiny: 5e-4 };

/** How a clamped run mixes the paper's batches with pretraining and random batches. */
export interface Recipe {
  clamp: ClampSource;
  pretrainSteps: number;
  randomShare: number;
  /** Invariance targeting strength (section 3.2.1); 0 is off. */
  invariance: number;
  /** 'relative': the identity means' invariance is measured against the code's size (gradientFilter). */
  invarianceMode: InvarianceMode;
  /** Which latents random batches train in the encoder: all, or z1..z3 ('scene'). */
  randomEncoder: RandomEncoder;
  /** The paper's shape bias K: SHAPE batches with probability (K + 1) / (K + 4) of the clamped ones. */
  shapeBias: number;
}

/**
 * The paper's clamped procedure as the original code ran it from scratch: sample 0's latents,
 * no pretraining, no random batches. Also what a checkpoint that predates these options trained.
 */
export const PAPER_RECIPE: Recipe = { clamp: 'first', pretrainSteps: 0, randomShare: 0, invariance: 0, invarianceMode: 'absolute', randomEncoder: 'all', shapeBias: 0 };

/**
 * What a fresh clamped run of each preset does unless flags say otherwise, chosen on `small`
 * (docs/RESULTS.md, "Which recipe does npm run train use?"): the first steps pretrain with
 * random batches (1000 of small's 4000), as the original authors' networks were pretrained; then
 * the clamp to the batch mean, with a share of random batches and SHAPE batches that keep the
 * decoder reading each image's own identity code, and invariance targeting that pulls a batch's
 * clamped latents together in the encoder, so that the mean the decoder gets is each image's code.
 * `paper` and `tiny` pretrain 6000 of 20000 and 100 of 300 steps (not measured on `paper`).
 */
const CLAMPED = { clamp: 'mean', randomShare: 0.5, invariance: 10, invarianceMode: 'absolute', randomEncoder: 'all', shapeBias: 2 } as const;
export const DEFAULT_RECIPE: Record<string, Recipe> = {
  paper: { ...CLAMPED, pretrainSteps: 6000 },
  small: { ...CLAMPED, pretrainSteps: 1000 },
  tiny: { ...CLAMPED, pretrainSteps: 100 },
};

/** The recipe options a run starts from before its flags: none apply to --procedure random. */
export function recipeDefaults(preset: string, procedure: 'clamped' | 'random', recipe: 'default' | 'paper'): Recipe {
  if (procedure === 'random' || recipe === 'paper') return PAPER_RECIPE;
  return DEFAULT_RECIPE[preset] ?? PAPER_RECIPE;
}
