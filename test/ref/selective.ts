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

/** Batch means of z, and over the latents outside [start, end): S = sum z^2, W = sum (z - mean)^2. */
function spreads(z: Arr, start: number, end: number) {
  const [B, D] = dims(z);
  const mean = new Float64Array(D);
  for (let b = 0; b < B; b++) for (let j = 0; j < D; j++) mean[j]! += z.data[b * D + j]! / B;
  let S = 0;
  let W = 0;
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < D; j++) {
      if (j >= start && j < end) continue;
      S += z.data[b * D + j]! ** 2;
      W += (z.data[b * D + j]! - mean[j]!) ** 2;
    }
  }
  return { B, D, mean, S, W, terms: B * (D - (end - start)) };
}

/** The relative invariance's loss, (strength / 2) * W / s with s = S / terms the mean square. */
export function relativeInvarianceLoss(z: Arr, start: number, end: number, strength: number): number {
  const { S, W, terms } = spreads(z, start, end);
  return S > 0 ? ((strength / 2) * W * terms) / S : 0;
}

/**
 * The relative invariance's gradient filter: gradOutput inside [start, end), outside it the
 * derivative of relativeInvarianceLoss (the means, W and S all depending on z):
 * (strength * terms / S) * ((z - mean) - (W / S) * z).
 */
export function relativeInvarianceBackward(g: Arr, z: Arr, start: number, end: number, strength: number): Arr {
  const { B, D, mean, S, W, terms } = spreads(z, start, end);
  const out = Float64Array.from(g.data);
  for (let b = 0; b < B; b++) {
    for (let j = 0; j < D; j++) {
      if (j >= start && j < end) continue;
      const i = b * D + j;
      out[i] = S > 0 ? ((strength * terms) / S) * (z.data[i]! - mean[j]! - (W / S) * z.data[i]!) : 0;
    }
  }
  return { data: out, shape: [...z.shape] };
}
