// Which scene variable a step's batch varies, and which latents it trains (section 3.2).

export type BatchKind = 'az' | 'el' | 'light' | 'shape';
export type Procedure = 'clamped' | 'random';

export const KINDS: readonly BatchKind[] = ['az', 'el', 'light', 'shape'];

/** Latents [start, end) that explain a batch of this kind: z1 azimuth, z2 elevation, z3 light, z4.. identity. */
export function passThrough(kind: BatchKind, latents: number): [number, number] {
  switch (kind) {
    case 'az':
      return [0, 1];
    case 'el':
      return [1, 2];
    case 'light':
      return [2, 3];
    case 'shape':
      return [3, latents];
  }
}

// splitmix32-style mixing: a step's choices are a pure function of (seed, step, stream), so a
// resumed run makes exactly the choices the uninterrupted one would have.
export function hash32(...words: number[]): number {
  let h = 0x9e3779b9;
  for (const w of words) {
    h = Math.imul(h ^ (w >>> 0), 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function unitFloat(...words: number[]): number {
  return hash32(...words) / 2 ** 32;
}

/**
 * Uniform over the four kinds, or with shape bias K the original's odds
 * (load_random_mv_shape_bias_batch: math.random(4 + K), anything past 3 is SHAPE):
 * SHAPE with probability (K + 1) / (K + 4), each extrinsic kind 1 / (K + 4).
 */
export function batchKind(seed: number, step: number, shapeBias = 0): BatchKind {
  const r = Math.floor(unitFloat(seed, step, 0x6b696e64) * (4 + shapeBias));
  return r < 3 ? KINDS[r]! : 'shape';
}
