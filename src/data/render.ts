// Renders faces into a GPU tensor [B, 1, H, W] with shaders/face.wgsl: two dispatches per
// image, each with the image's record (camera, geometry, albedo) in its uniform block; no readback.
import faceWgsl from '../../shaders/face.wgsl';
import { Uniforms, type Engine } from '../gpu/engine.js';
import { getEngine, Tensor } from '../tensor.js';
import { faceCamera } from './camera.js';
import {
  ALB_VEC4S, AMBIENT, faceAlbedo, faceGeometry, GEO_VEC4S, SHAPE_DIM, TEXTURE_DIM,
  type FaceParams,
} from './face-model.js';

/** Floats per image record (struct Face of shaders/face.wgsl). */
export const FACE_RECORD_FLOATS = (4 + 2 + GEO_VEC4S + ALB_VEC4S) * 4;
// struct Block of shaders/face.wgsl: Params (48 bytes) then the record.
const UNIFORM_BYTES = 48 + FACE_RECORD_FLOATS * 4;

export interface RenderOptions {
  /** Image side in pixels (square images). */
  size: number;
  /** Supersample the pixels at edges (default true); false renders one sample per pixel. */
  antialias?: boolean;
}

/**
 * The most faces one renderFaces call takes. Each face records two dispatches with their own bind
 * groups, which the driver frees only when JavaScript collects them: lavapipe ran out of descriptor
 * pools and crashed (a segmentation fault, not an error) rendering 40,000 faces in one call.
 */
export const MAX_FACES_PER_CALL = 16384;

/** The most faces of side `size` one renderFaces call takes on an engine with this storage binding limit. */
export function largestRender(size: number, maxBinding: number): number {
  return Math.min(MAX_FACES_PER_CALL, Math.floor(maxBinding / (size * size * 4)));
}

// Output is display-referred: a mild gamma keeps the faces' shadowed side readable.
const GAMMA = 1 / 1.6;
// A pixel is supersampled when a neighbour's centre sample is a miss where it hits, lies more
// than EDGE_DEPTH (8 mm) deeper or shallower, or differs by more than EDGE_VALUE in value.
const EDGE_DEPTH = 0.08;
const EDGE_VALUE = 0.1;

function checkParams(p: FaceParams, i: number): void {
  const finite = (x: number) => Number.isFinite(x);
  if (![p.azimuth, p.elevation, p.light].every(finite)) throw new Error(`renderFaces: params[${i}] has a non-finite scene variable`);
  if (p.shape.length > SHAPE_DIM || p.texture.length > TEXTURE_DIM || ![...p.shape, ...p.texture].every(finite)) {
    throw new Error(
      `renderFaces: params[${i}] needs at most ${SHAPE_DIM} finite shape and ${TEXTURE_DIM} texture coefficients ` +
        `(got ${p.shape.length} and ${p.texture.length})`,
    );
  }
}

/** The records (camera, geometry, albedo) of a list of faces, as shaders/face.wgsl reads them. */
export function packFaces(params: readonly FaceParams[], size: number): Float32Array {
  const out = new Float32Array(params.length * FACE_RECORD_FLOATS);
  params.forEach((p, i) => {
    checkParams(p, i);
    const cam = faceCamera(p.azimuth, p.elevation, p.light, size);
    const o = i * FACE_RECORD_FLOATS;
    out.set(cam.invViewProj, o);
    out.set([...cam.eye, cam.pixelAngle, ...cam.light, 0], o + 16);
    out.set(faceGeometry(p.shape), o + 24);
    out.set(faceAlbedo(p.texture), o + 24 + GEO_VEC4S * 4);
  });
  return out;
}

/** Renders grayscale faces in [0, 1] on black into a new tensor [B, 1, size, size]. */
export function renderFaces(params: readonly FaceParams[], options: RenderOptions, engine: Engine = getEngine()): Tensor {
  const { size, antialias = true } = options;
  if (!Number.isInteger(size) || size < 8 || size > 2048) throw new Error(`renderFaces: size must be an integer in [8, 2048], got ${size}`);
  const n = params.length;
  const out = Tensor.empty([n, 1, size, size], 'f32', engine);
  if (n === 0) return out;
  const pixels = size * size;
  if (n > largestRender(size, engine.maxBinding)) {
    throw new Error(`renderFaces: ${n} images of ${size}x${size} in one call, at most ${largestRender(size, engine.maxBinding)} on this adapter; render fewer at a time`);
  }
  const records = packFaces(params, size);
  const perChunk = Math.max(1, Math.floor(engine.maxBinding / (pixels * 8)));
  const centre = Tensor.empty([Math.min(n, perChunk), size, size, 2], 'f32', engine);
  const trace = engine.kernel({ name: 'face', wgsl: faceWgsl, entry: 'trace' });
  const resolve = engine.kernel({ name: 'face', wgsl: faceWgsl, entry: 'resolve' });
  const tiles = Math.ceil(size / 8);
  for (let first = 0; first < n; first += perChunk) {
    const count = Math.min(perChunk, n - first);
    const blocks = Array.from({ length: count }, (_, slot) =>
      new Uniforms(UNIFORM_BYTES)
        .u32(size, size, first + slot, slot, antialias ? 1 : 0)
        .f32(AMBIENT, EDGE_DEPTH, EDGE_VALUE, GAMMA)
        .align16()
        .f32(...records.subarray((first + slot) * FACE_RECORD_FLOATS, (first + slot + 1) * FACE_RECORD_FLOATS))
        .build(),
    );
    // All centres first, so that every resolve finds its neighbours traced.
    for (const uniforms of blocks) engine.dispatch(trace, { uniforms, bindings: [centre.buffer], workgroups: [tiles, tiles] });
    for (const uniforms of blocks) engine.dispatch(resolve, { uniforms, bindings: [centre.buffer, out.buffer], workgroups: [tiles, tiles] });
  }
  // Safe before the GPU has run: the pool hands the buffer out again only to work recorded later.
  centre.dispose();
  return out;
}
