// What the benches share to give a peer the same data as ours: deterministic random values, and
// 4-D transposes between our layouts (NCHW activations, [O,C,kh,kw] filters) and tfjs's (NHWC,
// [kh,kw,C,O]). A linear weight is transposed as a 4-D view of it, its flattened map side included.

/** xorshift32 from seed: a generator of values s / 2^32 in [0, 1), s the 32-bit state (never 0). */
export function xorshift(seed: number): () => number {
  let s = (seed * 2654435761) >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
}

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
