// What the benches share to give a peer the same data as ours and to compare what it gives back:
// 4-D transposes between our layouts (NCHW activations, [O,C,kh,kw] filters) and tfjs's (NHWC,
// [kh,kw,C,O]), and the relative difference of two results. A linear weight is transposed as a
// 4-D view of it, its flattened map side included.

/** Transposes a 4-D array: output axis k is input axis perm[k]. */
export function permute4(src: Float32Array, shape: readonly number[], perm: readonly number[]): Float32Array {
  const [d0, d1, d2, d3] = perm.map((p) => shape[p]!) as [number, number, number, number];
  const stride = [shape[1]! * shape[2]! * shape[3]!, shape[2]! * shape[3]!, shape[3]!, 1];
  const [s0, s1, s2, s3] = perm.map((p) => stride[p]!) as [number, number, number, number];
  const out = new Float32Array(src.length);
  let o = 0;
  for (let a = 0; a < d0; a++) {
    for (let b = 0; b < d1; b++) {
      for (let c = 0; c < d2; c++) {
        const base = a * s0 + b * s1 + c * s2;
        for (let d = 0; d < d3; d++) out[o++] = src[base + d * s3]!;
      }
    }
  }
  return out;
}

export const NCHW_TO_NHWC = [0, 2, 3, 1];
export const NHWC_TO_NCHW = [0, 3, 1, 2];
export const OCKK_TO_KKCO = [2, 3, 1, 0];
export const KKCO_TO_OCKK = [3, 2, 0, 1];

/** Largest |ours - ref| over the largest |ref|; a NaN or a length mismatch fails it. */
export function maxRelDiff(ours: Float32Array, ref: Float32Array): number {
  if (ours.length !== ref.length) return Infinity;
  let diff = 0;
  let mag = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i]! - ref[i]!);
    if (!(d <= diff)) diff = d; // NaN propagates as a failure
    const m = Math.abs(ref[i]!);
    if (m > mag) mag = m;
  }
  return mag > 0 ? diff / mag : diff;
}
