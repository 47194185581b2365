// float64 reference of upsampleNearest and its gradient (tests only).
import type { Arr } from './cpu.js';

export function upsampleNearest(x: Arr, f = 2): Arr {
  const [N, C, H, W] = x.shape as [number, number, number, number];
  const OH = H * f;
  const OW = W * f;
  const out = new Float64Array(N * C * OH * OW);
  for (let p = 0; p < N * C; p++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) out[(p * OH + oh) * OW + ow] = x.data[(p * H + Math.floor(oh / f)) * W + Math.floor(ow / f)]!;
    }
  }
  return { data: out, shape: [N, C, OH, OW] };
}

export function upsampleNearestBackward(g: Arr, f = 2): Arr {
  const [N, C, OH, OW] = g.shape as [number, number, number, number];
  const H = OH / f;
  const W = OW / f;
  const gi = new Float64Array(N * C * H * W);
  for (let p = 0; p < N * C; p++) {
    for (let oh = 0; oh < OH; oh++) {
      for (let ow = 0; ow < OW; ow++) gi[(p * H + Math.floor(oh / f)) * W + Math.floor(ow / f)]! += g.data[(p * OH + oh) * OW + ow]!;
    }
  }
  return { data: gi, shape: [N, C, H, W] };
}
