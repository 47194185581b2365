// float64 references of bceLoss and klLoss and their gradients (tests only).
import type { Arr } from './cpu.js';

const BCE_EPS = 1e-7;
// The GPU clamps to [eps, 1 - eps] in float32; the upper bound rounds to 1 - 2^-23.
const clampP = (p: number, eps: number) => Math.min(Math.max(p, Math.fround(eps)), Math.fround(1 - Math.fround(eps)));

export function bceLoss(pred: Arr, target: Arr, eps = BCE_EPS): number {
  let s = 0;
  pred.data.forEach((v, i) => {
    const p = clampP(v, eps);
    const t = target.data[i]!;
    s -= t * Math.log(p) + (1 - t) * Math.log(1 - p);
  });
  return s;
}

/** d(g * bce)/dpred at the clamped probability. */
export function bceLossGrad(pred: Arr, target: Arr, g = 1, eps = BCE_EPS): Arr {
  return {
    data: pred.data.map((v, i) => {
      const p = clampP(v, eps);
      return (g * (p - target.data[i]!)) / (p * (1 - p));
    }),
    shape: [...pred.shape],
  };
}

export function klLoss(mu: Arr, logvar: Arr): number {
  let s = 0;
  mu.data.forEach((m, i) => {
    const l = logvar.data[i]!;
    s += 0.5 * (m * m + Math.exp(l) - 1 - l);
  });
  return s;
}

export function klLossGrad(mu: Arr, logvar: Arr, g = 1): [Arr, Arr] {
  return [
    { data: mu.data.map((m) => g * m), shape: [...mu.shape] },
    { data: logvar.data.map((l) => g * 0.5 * (Math.exp(l) - 1)), shape: [...logvar.shape] },
  ];
}
