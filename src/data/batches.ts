// Training and test batches of rendered faces, as the DC-IGN paper organises them (section 3):
// batches where one scene variable changes (AZ, EL, LIGHT), batches where only the identity
// changes (SHAPE), and fully random batches (section 3.1). Everything is a pure function of a
// seed; images are rendered on the GPU into a tensor [B, 1, H, W] and never read back here.
import type { Engine } from '../gpu/engine.js';
import { getEngine, type Tensor } from '../tensor.js';
import {
  AZIMUTH_RANGE, ELEVATION_RANGE, LIGHT_RANGE, SHAPE_DIM, TEXTURE_DIM, type FaceParams,
} from './face-model.js';
import { renderFaces } from './render.js';
import { Rng } from './rng.js';

/** The paper's four batch types, and 'random' for the plain SGVB procedure. */
export type BatchType = 'az' | 'el' | 'light' | 'shape' | 'random';
export const BATCH_TYPES: readonly BatchType[] = ['az', 'el', 'light', 'shape', 'random'];
/** The batch types of the paper's clamped training (section 3.2), extrinsic first. */
export const CLAMPED_TYPES: readonly BatchType[] = ['az', 'el', 'light', 'shape'];
export const DEFAULT_BATCH_SIZE = 20;

/** Which latent group a batch type makes active: the index into [azimuth, elevation, light, intrinsic]; null for random. */
export function activeGroup(type: BatchType): 0 | 1 | 2 | 3 | null {
  return type === 'random' ? null : (CLAMPED_TYPES.indexOf(type) as 0 | 1 | 2 | 3);
}

export interface BatchSpec {
  type: BatchType;
  seed: number;
  /** Images in the batch (default 20). */
  count?: number;
}

export interface FaceBatch {
  type: BatchType;
  seed: number;
  size: number;
  /** Grayscale images in [0, 1], [B, 1, size, size], written by the render kernel. The caller disposes it. */
  images: Tensor;
  /** Ground truth for every image, in batch order. */
  params: FaceParams[];
}

export function checkBatchType(type: string): BatchType {
  if (!(BATCH_TYPES as readonly string[]).includes(type)) {
    throw new Error(`unknown batch type "${type}": expected one of ${BATCH_TYPES.join(', ')}`);
  }
  return type as BatchType;
}

function checkCount(count: number): void {
  if (!Number.isInteger(count) || count < 1) throw new Error(`batch count must be a positive integer, got ${count}`);
}

export interface Identity {
  shape: number[];
  texture: number[];
}

export function sampleIdentity(rng: Rng): Identity {
  return { shape: rng.normals(SHAPE_DIM), texture: rng.normals(TEXTURE_DIM) };
}

const uniformIn = (rng: Rng, [lo, hi]: readonly [number, number]) => rng.range(lo, hi);

// One value per equal slice of the range, in increasing order: the sweep covers the whole range
// every time (a contact sheet reads as a turn) and stays random within each slice.
function stratified(rng: Rng, [lo, hi]: readonly [number, number], n: number): number[] {
  return Array.from({ length: n }, (_, i) => lo + ((hi - lo) * (i + rng.uniform())) / n);
}

/** The scene and identity parameters of a batch: a pure function of (type, seed, count). */
export function sampleBatch(spec: BatchSpec): FaceParams[] {
  const type = checkBatchType(spec.type);
  const count = spec.count ?? DEFAULT_BATCH_SIZE;
  checkCount(count);
  const rng = Rng.fromSeed(spec.seed, BATCH_TYPES.indexOf(type) + 1);
  // Separate streams keep, say, the identity of an AZ batch independent of its batch size.
  const sceneRng = rng.fork(1);
  const identityRng = rng.fork(2);
  const sweepRng = rng.fork(3);
  const scene = () => ({
    azimuth: uniformIn(sceneRng, AZIMUTH_RANGE),
    elevation: uniformIn(sceneRng, ELEVATION_RANGE),
    light: uniformIn(sceneRng, LIGHT_RANGE),
  });
  const one = (s: ReturnType<typeof scene>, id: Identity): FaceParams => ({ ...s, shape: [...id.shape], texture: [...id.texture] });
  switch (type) {
    case 'az':
    case 'el':
    case 'light': {
      const base = scene();
      const id = sampleIdentity(identityRng);
      const key = type === 'az' ? 'azimuth' : type === 'el' ? 'elevation' : 'light';
      const range = type === 'az' ? AZIMUTH_RANGE : type === 'el' ? ELEVATION_RANGE : LIGHT_RANGE;
      return stratified(sweepRng, range, count).map((v) => one({ ...base, [key]: v }, id));
    }
    case 'shape': {
      const base = scene();
      return Array.from({ length: count }, () => one(base, sampleIdentity(identityRng)));
    }
    case 'random':
      return Array.from({ length: count }, () => one(scene(), sampleIdentity(identityRng)));
  }
}

export interface RenderBatchOptions {
  /** Image side in pixels: 150 for the paper, smaller (e.g. 64) for quick presets. */
  size: number;
  antialias?: boolean;
}

/** Samples and renders one batch. */
export function renderBatch(spec: BatchSpec, options: RenderBatchOptions, engine: Engine = getEngine()): FaceBatch {
  const params = sampleBatch(spec);
  const images = renderFaces(params, options, engine);
  return { type: spec.type, seed: spec.seed, size: options.size, images, params };
}

// Seeds of batches in a stream: a hash of (seed, split, index) as a 53-bit integer, so the
// training and held-out streams never share a batch (up to a 2^-53 chance).
function derivedSeed(seed: number, split: number, index: number): number {
  if (!Number.isSafeInteger(index) || index < 0) throw new Error(`batch index must be a non-negative integer, got ${index}`);
  const r = Rng.fromSeed(seed, split).fork(index >>> 0).fork(Math.floor(index / 2 ** 32));
  return Math.floor(r.uniform() * 2 ** 21) * 2 ** 32 + Math.floor(r.uniform() * 2 ** 32);
}

const TRAIN_SPLIT = 0x7472;
const TEST_SPLIT = 0x7465;

export interface StreamOptions {
  /** Images per batch (default 20). */
  count?: number;
  /**
   * 'clamped' (default): the paper's section 3.2 mix of AZ, EL, LIGHT and SHAPE batches;
   * 'random': every batch is random (section 3.1).
   */
  mode?: 'clamped' | 'random';
  /** Weight of SHAPE batches against weight 1 for each extrinsic type (the paper's "shape bias"); default 1. */
  shapeBias?: number;
  /**
   * 'clamped' mode only: the probability that a batch is a random one instead (default 0). Not in
   * the paper; its own draw, so a share of 0 leaves the paper's stream exactly as it was.
   */
  randomShare?: number;
}

/** Batch `index` of the training stream of `seed`: its type drawn as the paper mixes them. */
export function trainingBatch(seed: number, index: number, options: StreamOptions = {}): Required<BatchSpec> {
  const { count = DEFAULT_BATCH_SIZE, mode = 'clamped', shapeBias = 1, randomShare = 0 } = options;
  checkCount(count);
  if (!(shapeBias >= 0) || !Number.isFinite(shapeBias)) throw new Error(`shapeBias must be a finite number >= 0, got ${shapeBias}`);
  if (!(randomShare >= 0 && randomShare <= 1)) throw new Error(`randomShare must be in [0, 1], got ${randomShare}`);
  const batchSeed = derivedSeed(seed, TRAIN_SPLIT, index);
  if (mode === 'random') return { type: 'random', seed: batchSeed, count };
  if (randomShare > 0 && Rng.fromSeed(batchSeed, 0x726d).uniform() < randomShare) return { type: 'random', seed: batchSeed, count };
  const u = Rng.fromSeed(batchSeed, 0x7479).uniform() * (3 + shapeBias);
  const type: BatchType = u < 1 ? 'az' : u < 2 ? 'el' : u < 3 ? 'light' : 'shape';
  return { type, seed: batchSeed, count };
}

export interface TestSetOptions {
  /** Batches of each type (default 4). */
  batchesPerType?: number;
  count?: number;
  types?: readonly BatchType[];
}

/**
 * A held-out test set: for each type, `batchesPerType` batches whose seeds come from a stream
 * disjoint from every training stream. Fixed by `seed` (default 0).
 */
export function testSet(seed = 0, options: TestSetOptions = {}): Required<BatchSpec>[] {
  const { batchesPerType = 4, count = DEFAULT_BATCH_SIZE, types = BATCH_TYPES } = options;
  checkCount(count);
  if (!Number.isInteger(batchesPerType) || batchesPerType < 0 || batchesPerType > 2 ** 20) {
    throw new Error(`testSet: batchesPerType must be an integer in [0, 2^20], got ${batchesPerType}`);
  }
  const out: Required<BatchSpec>[] = [];
  types.forEach((type) => {
    checkBatchType(type);
    for (let i = 0; i < batchesPerType; i++) {
      out.push({ type, seed: derivedSeed(seed, TEST_SPLIT, BATCH_TYPES.indexOf(type) * 2 ** 20 + i), count });
    }
  });
  return out;
}
