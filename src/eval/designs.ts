// What the evaluation renders: pure functions of a seed that list the faces of each experiment
// (sweeps, same/different pairs, random samples for the disentanglement metrics, MCMC
// observations). Browser-safe. Every stream is keyed off a seed of the renderer's held-out
// stream (testSet), which is disjoint from every training stream.
import { AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_RANGE, type FaceParams } from '../data/face-model.js';
import { sampleBatch, sampleIdentity, testSet } from '../data/batches.js';
import { Rng } from '../data/rng.js';
import { FACTOR_RANGE, SCENE_FACTORS, type SceneFactor } from './factors.js';

export { FACTOR_RANGE, SCENE_FACTORS, type SceneFactor };

/** The paper's sweep step (section 4.3: azimuth from -1.5 to 1.5 in 0.05 steps). */
export const SWEEP_STEP = 0.05;

// Stream keys under the design seed, one per experiment.
const STREAM = { sweep: 1, pairs: 2, chains: 3, observations: 4 } as const;

/** The root of the evaluation's random streams for `seed`: a held-out seed of the renderer. */
export function designRng(seed: number, experiment: keyof typeof STREAM): Rng {
  const root = testSet(seed, { types: ['random'], batchesPerType: 1, count: 1 })[0]!.seed;
  return Rng.fromSeed(root, 0x6576616c).fork(STREAM[experiment]);
}

/** Sweep values over a factor's rendered range in SWEEP_STEP steps; 0 is one of them exactly. */
export function sweepValues(factor: SceneFactor, step = SWEEP_STEP): number[] {
  const [lo, hi] = FACTOR_RANGE[factor];
  const first = Math.ceil(lo / step - 1e-9);
  const last = Math.floor(hi / step + 1e-9);
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toFixed(10)));
}

export interface SweepDesign {
  factor: SceneFactor;
  values: number[];
  /** Index of value 0 (the frontal face for azimuth). */
  zeroIndex: number;
  /** params[face][value]. */
  params: FaceParams[][];
}

/**
 * For each of `faces` faces: one identity and one random scene; then, for each scene factor, the
 * scene with that factor swept over its range and the other two held at the face's values (an
 * AZ, EL or LIGHT batch of the paper with a full, regular sweep).
 */
export function sweepDesigns(seed: number, faces: number): SweepDesign[] {
  const rng = designRng(seed, 'sweep');
  const people = Array.from({ length: faces }, (_, f) => {
    const r = rng.fork(f);
    const id = sampleIdentity(r);
    const scene = { azimuth: r.range(...AZIMUTH_RANGE), elevation: r.range(...ELEVATION_RANGE), light: r.range(...LIGHT_RANGE) };
    return { id, scene };
  });
  return SCENE_FACTORS.map((factor) => {
    const values = sweepValues(factor);
    return {
      factor,
      values,
      zeroIndex: values.indexOf(0),
      params: people.map(({ id, scene }) =>
        values.map((v) => ({ ...scene, [factor]: v, shape: [...id.shape], texture: [...id.texture] })),
      ),
    };
  });
}

export interface PairDesign {
  a: FaceParams;
  b: FaceParams;
  same: boolean;
}

/** `pairs` pairs, alternately same and different identity, every image with its own random pose and light. */
export function pairDesign(seed: number, pairs: number): PairDesign[] {
  const rng = designRng(seed, 'pairs');
  return Array.from({ length: pairs }, (_, p) => {
    const r = rng.fork(p);
    const same = p % 2 === 0;
    const idA = sampleIdentity(r);
    const idB = same ? idA : sampleIdentity(r);
    const scene = () => ({ azimuth: r.range(...AZIMUTH_RANGE), elevation: r.range(...ELEVATION_RANGE), light: r.range(...LIGHT_RANGE) });
    return {
      same,
      a: { ...scene(), shape: [...idA.shape], texture: [...idA.texture] },
      b: { ...scene(), shape: [...idB.shape], texture: [...idB.texture] },
    };
  });
}

/** Ground-truth factors scored by the disentanglement metrics: the scene and a few identity coefficients. */
export const METRIC_FACTORS: readonly { name: string; get(p: FaceParams): number }[] = [
  { name: 'azimuth', get: (p) => p.azimuth },
  { name: 'elevation', get: (p) => p.elevation },
  { name: 'light', get: (p) => p.light },
  { name: 'shape[0] head breadth', get: (p) => p.shape[0] ?? 0 },
  { name: 'shape[3] face length', get: (p) => p.shape[3] ?? 0 },
  { name: 'shape[8] nose protrusion', get: (p) => p.shape[8] ?? 0 },
  { name: 'texture[0] skin tone', get: (p) => p.texture[0] ?? 0 },
];

/** `count` faces from the renderer's held-out random batches (everything varies independently). */
export function randomSamples(seed: number, count: number): FaceParams[] {
  const specs = testSet(seed, { types: ['random'], batchesPerType: Math.ceil(count / 20), count: 20 });
  return specs.flatMap((s) => sampleBatch(s)).slice(0, count);
}

/** Random faces to observe in the MCMC experiment, one per chain. */
export function observationDesign(seed: number, chains: number): FaceParams[] {
  const rng = designRng(seed, 'observations');
  return Array.from({ length: chains }, (_, c) => {
    const r = rng.fork(c);
    const id = sampleIdentity(r);
    // Away from the profile ends, where every summary sees little of the face.
    return { azimuth: r.range(-1, 1), elevation: r.range(-0.4, 0.4), light: r.range(-1, 1), shape: id.shape, texture: id.texture };
  });
}
