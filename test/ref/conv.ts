// Float64 references for conv2d and its gradients, written straight from the definitions
// (PyTorch semantics: cross-correlation, NCHW, weights [O, C, kh, kw], zero padding). Each value
// is a plain sum computed on its own, so a large layer can be checked at a sample of elements.
import { size, type Arr } from './cpu.js';

export interface ConvRefOptions {
  stride?: number;
  padding?: number | 'valid' | 'same';
}

export interface ConvRefGeom {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  kh: number;
  kw: number;
  s: number;
  pt: number;
  pl: number;
  Ho: number;
  Wo: number;
}

export function convGeom(xShape: readonly number[], wShape: readonly number[], o: ConvRefOptions = {}): ConvRefGeom {
  const [N, C, H, W] = xShape as [number, number, number, number];
  const [O, , kh, kw] = wShape as [number, number, number, number];
  const s = o.stride ?? 1;
  const p = o.padding ?? 0;
  if (p === 'same') {
    // PyTorch: total padding k - 1, the odd one at the bottom / right.
    return { N, C, H, W, O, kh, kw, s, pt: Math.floor((kh - 1) / 2), pl: Math.floor((kw - 1) / 2), Ho: H, Wo: W };
  }
  const q = p === 'valid' ? 0 : p;
  return { N, C, H, W, O, kh, kw, s, pt: q, pl: q, Ho: Math.floor((H + 2 * q - kh) / s) + 1, Wo: Math.floor((W + 2 * q - kw) / s) + 1 };
}

/** out[n,o,y,x] = b[o] + sum over c,i,j of w[o,c,i,j] x[n,c,y*s-pt+i,x*s-pl+j], at flat output indices. */
export function conv2dAt(x: Arr, w: Arr, b: Arr | null, o: ConvRefOptions, indices: number[]): number[] {
  const g = convGeom(x.shape, w.shape, o);
  return indices.map((idx) => {
    const ox = idx % g.Wo;
    const oy = Math.floor(idx / g.Wo) % g.Ho;
    const m = Math.floor(idx / (g.Wo * g.Ho)) % g.O;
    const n = Math.floor(idx / (g.Wo * g.Ho * g.O));
    let acc = b ? b.data[m]! : 0;
    for (let c = 0; c < g.C; c++) {
      for (let i = 0; i < g.kh; i++) {
        const iy = oy * g.s - g.pt + i;
        if (iy < 0 || iy >= g.H) continue;
        for (let j = 0; j < g.kw; j++) {
          const ix = ox * g.s - g.pl + j;
          if (ix < 0 || ix >= g.W) continue;
          acc += w.data[((m * g.C + c) * g.kh + i) * g.kw + j]! * x.data[((n * g.C + c) * g.H + iy) * g.W + ix]!;
        }
      }
    }
    return acc;
  });
}

/** dx[n,c,h,v] = sum over o and the taps (i,j) with h = oy*s-pt+i, v = ox*s-pl+j of dy[n,o,oy,ox] w[o,c,i,j]. */
export function conv2dGradInputAt(dy: Arr, w: Arr, xShape: number[], o: ConvRefOptions, indices: number[]): number[] {
  const g = convGeom(xShape, w.shape, o);
  return indices.map((idx) => {
    const v = idx % g.W;
    const h = Math.floor(idx / g.W) % g.H;
    const c = Math.floor(idx / (g.W * g.H)) % g.C;
    const n = Math.floor(idx / (g.W * g.H * g.C));
    let acc = 0;
    for (let m = 0; m < g.O; m++) {
      for (let i = 0; i < g.kh; i++) {
        const ty = h + g.pt - i;
        if (ty < 0 || ty % g.s !== 0 || ty / g.s >= g.Ho) continue;
        for (let j = 0; j < g.kw; j++) {
          const tx = v + g.pl - j;
          if (tx < 0 || tx % g.s !== 0 || tx / g.s >= g.Wo) continue;
          acc += dy.data[((n * g.O + m) * g.Ho + ty / g.s) * g.Wo + tx / g.s]! * w.data[((m * g.C + c) * g.kh + i) * g.kw + j]!;
        }
      }
    }
    return acc;
  });
}

/** dw[o,c,i,j] = sum over n,oy,ox of dy[n,o,oy,ox] x[n,c,oy*s-pt+i,ox*s-pl+j]. */
export function conv2dGradWeightAt(x: Arr, dy: Arr, wShape: number[], o: ConvRefOptions, indices: number[]): number[] {
  const g = convGeom(x.shape, wShape, o);
  return indices.map((idx) => {
    const j = idx % g.kw;
    const i = Math.floor(idx / g.kw) % g.kh;
    const c = Math.floor(idx / (g.kw * g.kh)) % g.C;
    const m = Math.floor(idx / (g.kw * g.kh * g.C));
    let acc = 0;
    for (let n = 0; n < g.N; n++) {
      for (let oy = 0; oy < g.Ho; oy++) {
        const iy = oy * g.s - g.pt + i;
        if (iy < 0 || iy >= g.H) continue;
        const dyRow = ((n * g.O + m) * g.Ho + oy) * g.Wo;
        const xRow = ((n * g.C + c) * g.H + iy) * g.W;
        for (let ox = 0; ox < g.Wo; ox++) {
          const ix = ox * g.s - g.pl + j;
          if (ix < 0 || ix >= g.W) continue;
          acc += dy.data[dyRow + ox]! * x.data[xRow + ix]!;
        }
      }
    }
    return acc;
  });
}

/** db[o] = sum over n, oy, ox of dy[n,o,oy,ox]. */
export function conv2dGradBias(dy: Arr): Arr {
  const [N, O, Ho, Wo] = dy.shape as [number, number, number, number];
  const out = new Float64Array(O);
  for (let n = 0; n < N; n++) {
    for (let m = 0; m < O; m++) {
      const base = (n * O + m) * Ho * Wo;
      for (let p = 0; p < Ho * Wo; p++) out[m]! += dy.data[base + p]!;
    }
  }
  return { data: out, shape: [O] };
}

const all = (shape: number[]) => Array.from({ length: size(shape) }, (_, i) => i);

export function conv2d(x: Arr, w: Arr, b: Arr | null, o: ConvRefOptions = {}): Arr {
  const g = convGeom(x.shape, w.shape, o);
  const shape = [g.N, g.O, g.Ho, g.Wo];
  return { data: Float64Array.from(conv2dAt(x, w, b, o, all(shape))), shape };
}

export function conv2dGradInput(dy: Arr, w: Arr, xShape: number[], o: ConvRefOptions = {}): Arr {
  return { data: Float64Array.from(conv2dGradInputAt(dy, w, xShape, o, all(xShape))), shape: [...xShape] };
}

export function conv2dGradWeight(x: Arr, dy: Arr, wShape: number[], o: ConvRefOptions = {}): Arr {
  return { data: Float64Array.from(conv2dGradWeightAt(x, dy, wShape, o, all(wShape))), shape: [...wShape] };
}
