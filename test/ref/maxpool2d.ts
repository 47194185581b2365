// float64 reference of maxPool2d and its gradient (tests only).
import type { Arr } from './cpu.js';

/** Max over k x k windows at stride s, floor output size; idx = offset in the input plane of the first maximum. */
export function maxPool2d(x: Arr, k = 2, s = k): { out: Arr; idx: Uint32Array } {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const OH = Math.floor((H - k) / s) + 1;
  const OW = Math.floor((W - k) / s) + 1;
  const out = new Float64Array(N * C * OH * OW);
  const idx = new Uint32Array(out.length);
  for (let p = 0; p < N * C; p++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) {
        let best = -Infinity;
        let at = -1;
        for (let kh = 0; kh < k; kh++) {
          for (let kw = 0; kw < k; kw++) {
            const r = (oh * s + kh) * W + ow * s + kw;
            const v = x.data[p * H * W + r]!;
            // PyTorch's rule: a NaN wins its window (the last one, if several).
            if (v > best || Number.isNaN(v)) {
              best = v;
              at = r;
            }
          }
        }
        const o = (p * OH + oh) * OW + ow;
        out[o] = best;
        idx[o] = at;
      }
    }
  }
  return { out: { data: out, shape: [N, C, OH, OW] }, idx };
}

/** Scatters each output gradient onto its window's argmax. */
export function maxPool2dBackward(g: Arr, idx: Uint32Array, inputShape: number[]): Arr {
  const [N, C, H, W] = inputShape as [number, number, number, number];
  const [, , OH, OW] = g.shape as [number, number, number, number];
  const gi = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) {
    for (let o = 0; o < OH * OW; o++) gi[p * H * W + idx[p * OH * OW + o]!]! += g.data[p * OH * OW + o]!;
  }
  return { data: gi, shape: [...inputShape] };
}

/** relu(maxPool2d(x)): NaN passes through, as the GPU's relu lets it. */
export function maxPool2dRelu(x: Arr, k = 2, s = k): { out: Arr; idx: Uint32Array } {
  const { out, idx } = maxPool2d(x, k, s);
  return { out: { data: out.data.map((v) => (v > 0 || Number.isNaN(v) ? v : 0)), shape: out.shape }, idx };
}

/** The gradient of relu(maxPool2d(x)): each output gradient where that output is positive, onto its argmax. */
export function maxPool2dReluBackward(g: Arr, out: Arr, idx: Uint32Array, inputShape: number[]): Arr {
  return maxPool2dBackward({ data: g.data.map((v, i) => (out.data[i]! > 0 ? v : 0)), shape: g.shape }, idx, inputShape);
}
