// Per-preset training defaults shared by `npm run train` and scripts/overfit.ts.

export const DEFAULT_STEPS: Record<string, number> = { paper: 20000, small: 3000, tiny: 300 };

// The original's 5e-4, except `small`: its first 400 steps reached BCE 5962 per image at 1e-3
// against 6023 at 5e-4 (bench/RESULTS.md).
export const DEFAULT_LR: Record<string, number> = { paper: 5e-4, small: 1e-3, tiny: 5e-4 };
