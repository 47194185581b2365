// Which latents a batch trains (section 3.2): the one its scene variable maps to.
import type { BatchType } from '../data/batches.js';

/** The clamped batch types; 'random' batches (section 3.1) clamp nothing. */
export type BatchKind = Exclude<BatchType, 'random'>;
export type Procedure = 'clamped' | 'random';

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
