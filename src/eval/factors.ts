// The renderer's scene factors as the evaluation names them (z1, z2, z3 in this order). Kept
// apart from designs.ts so that the CPU-only modules (abc.ts, report.ts) import no GPU code.
import { AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_RANGE } from '../data/face-model.js';

export const SCENE_FACTORS = ['azimuth', 'elevation', 'light'] as const;
export type SceneFactor = (typeof SCENE_FACTORS)[number];

export const FACTOR_RANGE: Record<SceneFactor, readonly [number, number]> = {
  azimuth: AZIMUTH_RANGE,
  elevation: ELEVATION_RANGE,
  light: LIGHT_RANGE,
};
