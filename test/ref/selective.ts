// float64 references of the original Torch modules SelectiveOutputClamp.lua and
// SelectiveGradientFilter.lua (dc-ign, modules/), written from their semantics: z is [B, D],
// the pass-through range is [start, end) (0-based), empty for the original's nil (tests only).
import type { Arr } from './cpu.js';

const dims = (z: Arr) => [z.shape[0]!, z.data.length / z.shape[0]!] as const;

/** updateOutput of SelectiveOutputClamp: output[b] = input[1], then output[{{}, pass}] = input[{{}, pass}]. */
export function selectiveClamp(z: Arr, start: number, end: number): Arr {
  const [B, D] = dims(z);
  const out = new Float64Array(z.data.length);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < D; j++) out[b * D + j] = j >= start && j < end ? z.data[b * D + j]! : z.data[j]!;
  }
  return { data: out, shape: [...z.shape] };
}

/** The clamp to the batch mean: output[b] = mean over b' of input[b'], then the pass-through columns. */
export function selectiveClampMean(z: Arr, start: number, end: number): Arr {
  const [B, D] = dims(z);
  const mean = new Float64Array(D);
  for (let b = 0; b < B; b++) for (let j = 0; j < D; j++) mean[j]! += z.data[b * D + j]! / B;
  const out = new Float64Array(z.data.length);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < D; j++) out[b * D + j] = j >= start && j < end ? z.data[b * D + j]! : mean[j]!;
  }
  return { data: out, shape: [...z.shape] };
}

/** updateGradInput of SelectiveOutputClamp: gradInput = copy of gradOutput. */
export function selectiveClampBackward(g: Arr): Arr {
  return { data: Float64Array.from(g.data), shape: [...g.shape] };
}

/**
 * updateGradInput of SelectiveGradientFilter (active): without invariance, zeros with the
 * pass-through columns of gradOutput; with it, invariance_strength * (input[i] - mean(input, 1))
 * everywhere, then the pass-through columns of gradOutput.
 */
export function gradientFilterBackward(g: Arr, z: Arr, start: number, end: number, invariance?: number): Arr {
  const [B, D] = dims(z);
  const mean = new Float64Array(D);
  for (let b = 0; b < B; b++) for (let j = 0; j < D; j++) mean[j]! += z.data[b * D + j]! / B;
  const out = new Float64Array(z.data.length);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < D; j++) {
      const i = b * D + j;
      if (j >= start && j < end) out[i] = g.data[i]!;
      else out[i] = invariance === undefined ? 0 : invariance * (z.data[i]! - mean[j]!);
    }
  }
  return { data: out, shape: [...z.shape] };
}
