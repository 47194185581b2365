// The morphable face: identity coefficients (shape s, texture t, each ~ N(0, I)) map smoothly to
// the parameters of the primitives that shaders/face.wgsl blends into a signed distance field,
// and to its albedo. Units are decimetres in the head frame: x to the subject's left, y up, z out
// of the face; the origin sits between the ear canals. Browser-safe (no node:* imports).

/** Number of shape coefficients (3D geometry). */
export const SHAPE_DIM = 24;
/** Number of texture coefficients (albedo). */
export const TEXTURE_DIM = 10;

export const AZIMUTH_RANGE = [-1.5, 1.5] as const;
export const ELEVATION_RANGE = [-0.6, 0.6] as const;
export const LIGHT_RANGE = [-1.5, 1.5] as const;
/** The light's fixed elevation above the camera's horizon (radians): a little from above, as studio light. */
export const LIGHT_ELEVATION = 0.3;
/** Share of the light that is ambient (unshadowed). */
export const AMBIENT = 0.16;

/** One rendered face: scene variables (radians) and identity coefficients. */
export interface FaceParams {
  /** Face azimuth: positive turns the face to the image's right (the subject's left). */
  azimuth: number;
  /** Face elevation: positive tilts the face up. */
  elevation: number;
  /** Light azimuth in the camera frame: positive lights the face from the image's right. */
  light: number;
  /** SHAPE_DIM coefficients. */
  shape: number[];
  /** TEXTURE_DIM coefficients. */
  texture: number[];
}

/** What each shape coefficient does, in order (documentation and the CLI's --help). */
export const SHAPE_MEANING = [
  'head breadth', 'head length', 'cranium height', 'face length', 'jaw width', 'chin protrusion',
  'chin width', 'nose length', 'nose protrusion', 'nose width', 'nose bridge', 'eye spacing',
  'eye opening', 'eye depth', 'brow ridge', 'cheekbones', 'cheek fullness', 'lip fullness',
  'mouth width', 'ear size', 'ear protrusion', 'forehead slope', 'neck thickness', 'face depth',
] as const;

export const TEXTURE_MEANING = [
  'skin tone', 'lip darkness', 'eyebrow darkness', 'iris darkness', 'cheek colour', 'forehead-chin gradient',
  'under-eye darkness', 'beard shadow', 'eyebrow thickness', 'ear and neck tone',
] as const;

// Smooth saturation keeps 4-sigma draws from folding primitives inside out.
const soft = (v: number | undefined, lim = 3.5) => lim * Math.tanh((v ?? 0) / lim);

type V3 = [number, number, number];

/** Pivot of the head's rotation and centre of the frame, in the head frame. */
export const HEAD_PIVOT: V3 = [0, 0, 0.05];

type V4 = [number, number, number, number];

/** Fields of struct Geo in shaders/face.wgsl, in its order; each is one vec4. */
export const GEO_FIELDS = [
  'cranC', 'cranR', 'faceC', 'faceR', 'jawA', 'jawB', 'chinC', 'chinR', 'cbC', 'cbR', 'chkC', 'chkR',
  'browC', 'browR', 'eye', 'sockC', 'sockR', 'lid',
  'noseA', 'noseB', 'bodyC', 'bodyR', 'alaC', 'alaR', 'nosC', 'nosR',
  'lipUC', 'lipUR', 'lipLC', 'lipLR', 'slitC', 'slitR',
  'earC', 'earR', 'lobeC', 'lobeR', 'bowlC', 'bowlR',
  'neckA', 'neckB',
  'eyeBound', 'noseBound', 'mouthBound', 'earBound',
  'boxMin', 'boxMax',
] as const;
export type GeoField = (typeof GEO_FIELDS)[number];

/** Named geometry of one identity: centres, radii (ellipsoid semi-axes), capsule ends with radius in w. */
export function faceShape(shape: readonly number[]): Record<GeoField, V4> {
  const s = (i: number) => soft(shape[i]);
  const ex = Math.exp;
  const eyeY = 0.25;
  // Below the eyes, heights scale about the eye line: a long or short face.
  const fl = 0.84 * (1 + 0.07 * s(3));
  const ly = (y: number) => eyeY + (y - eyeY) * fl;
  const depth = ex(0.07 * s(23));
  const breadth = ex(0.07 * s(0));
  const eyeX = 0.32 + 0.022 * s(11);
  const eyeZ = 0.615 - 0.03 * s(13);
  const tipY = ly(-0.15 - 0.06 * s(7));
  const tipZ = 1.12 + 0.07 * s(8);
  const nw = ex(0.1 * s(9));
  const lipF = ex(0.15 * s(17));
  const mw = ex(0.1 * s(18));
  const es = ex(0.12 * s(19));
  const earX = 0.74 * breadth + 0.035 * s(20);
  const cf = ex(0.12 * s(16));
  const nr = 0.41 * ex(0.09 * s(22));
  const g = {
    cranC: [0, 0.42 + 0.015 * s(2), -0.1 - 0.04 * s(21), 0],
    cranR: [0.75 * breadth, 0.9 * ex(0.035 * s(2)), 0.98 * ex(0.05 * s(1)), 0],
    // maxilla and mid-face
    faceC: [0, ly(-0.33), 0.3 + 0.04 * s(23), 0],
    faceR: [0.62 * breadth, 0.62 * fl, 0.6 * depth, 0],
    // jaw: from the jaw angle to the chin
    jawA: [(0.56 + 0.05 * s(4)) * breadth, ly(-0.36), -0.12, 0.18],
    jawB: [0.2 + 0.03 * s(6), ly(-0.96), 0.52 + 0.05 * s(5), 0.16],
    chinC: [0, ly(-0.93), 0.62 + 0.06 * s(5), 0],
    chinR: [0.25 * ex(0.15 * s(6)), 0.19, 0.24, 0],
    cbC: [(0.5 + 0.02 * s(15)) * breadth, 0.04, 0.33 + 0.03 * s(15), 0],
    cbR: [0.17, 0.17, 0.4, 0],
    // soft tissue of the cheeks
    chkC: [0.3 * breadth, ly(-0.3), 0.5 * depth, 0],
    chkR: [0.26 * cf, 0.28 * cf, 0.3 * cf, 0],
    browC: [eyeX - 0.07, 0.43, 0.72 + 0.02 * s(14), 0],
    browR: [0.2, 0.08 * ex(0.08 * s(14)), 0.13, 0],
    // eyeball centre and radius; socket; lid opening (half width, half height, lid thickness)
    eye: [eyeX, eyeY, eyeZ, 0.125],
    sockC: [eyeX, eyeY + 0.02, eyeZ + 0.17 - 0.02 * s(13), 0],
    sockR: [0.17, 0.13, 0.16, 0],
    lid: [0.13 * ex(0.05 * s(12)), 0.043 * ex(0.15 * s(12)), 0.012, 0],
    // nose: bridge from the nasion to the tip, the body under it, alae, nostrils
    noseA: [0, 0.26, 0.82 + 0.03 * s(10), 0.05 * ex(0.18 * s(10))],
    noseB: [0, tipY, tipZ, 0.07 * nw],
    bodyC: [0, 0.5 * (tipY + ly(-0.3)), 0.5 * (tipZ + 0.82), 0],
    bodyR: [0.1 * nw, 0.17 * fl, 0.13, 0],
    alaC: [0.095 * nw, tipY - 0.075, tipZ - 0.13, 0],
    alaR: [0.06, 0.055, 0.07, 0],
    nosC: [0.045 * nw, tipY - 0.11, tipZ - 0.07, 0],
    nosR: [0.03, 0.018, 0.04, 0],
    // lips and the slit between them
    lipUC: [0, ly(-0.53), 0.88, 0],
    lipUR: [0.22 * mw, 0.055 * lipF, 0.08 * lipF, 0],
    lipLC: [0, ly(-0.645), 0.865, 0],
    lipLR: [0.19 * mw, 0.06 * lipF, 0.08 * lipF, 0],
    slitC: [0, ly(-0.59), 0.93, 0],
    slitR: [0.23 * mw, 0.008, 0.1, 0],
    // ears: helix, lobe, concha
    earC: [earX, 0.1, -0.12, 0],
    earR: [0.07, 0.3 * es, 0.19 * es, 0],
    lobeC: [earX - 0.01, 0.1 - 0.3 * es, -0.07, 0],
    lobeR: [0.06, 0.11 * es, 0.09 * es, 0],
    bowlC: [earX + 0.06, 0.08, -0.1, 0],
    bowlR: [0.05, 0.2 * es, 0.12 * es, 0],
    neckA: [0, -0.35, -0.2, nr],
    neckB: [0, -1.15, -0.25, nr],
  } satisfies Partial<Record<GeoField, V4>>;
  // Bounding spheres of the detail groups let the shader skip them far away (exactly: the
  // smooth union equals min() beyond its blend radius). Margin covers the blend and the
  // ellipsoid distance approximation.
  const ell = (c: V4, r: V4): [V4, number] => [c, Math.max(r[0], r[1], r[2])];
  const cap = (a: V4, b: V4): [V4, number][] => [[a, a[3]], [b, b[3]]];
  const bound = (parts: [V4, number][], margin = 0.04): V4 => {
    const lo = [0, 1, 2].map((k) => Math.min(...parts.map(([c, r]) => c[k]! - r)));
    const hi = [0, 1, 2].map((k) => Math.max(...parts.map(([c, r]) => c[k]! + r)));
    const c = [0, 1, 2].map((k) => 0.5 * (lo[k]! + hi[k]!));
    const r = Math.max(...parts.map(([p, pr]) => Math.hypot(p[0] - c[0]!, p[1] - c[1]!, p[2] - c[2]!) + pr));
    return [c[0]!, c[1]!, c[2]!, r + margin];
  };
  const lidSphere: [V4, number] = [g.eye, g.eye[3] + g.lid[2]];
  // The tracer's bounding box: every primitive (paired ones on both sides), grown by the
  // largest bulge of a smooth union (k / 4, k <= 0.3).
  const lo = [Infinity, Infinity, Infinity];
  const hi = [-Infinity, -Infinity, -Infinity];
  const add = (c: readonly number[], r: readonly number[]) => {
    for (const sx of c[0] === 0 ? [1] : [1, -1]) {
      for (let k = 0; k < 3; k++) {
        const ck = k === 0 ? sx * c[0]! : c[k]!;
        lo[k] = Math.min(lo[k]!, ck - r[k]!);
        hi[k] = Math.max(hi[k]!, ck + r[k]!);
      }
    }
  };
  for (const [c, r] of [['cranC', 'cranR'], ['faceC', 'faceR'], ['chinC', 'chinR'], ['cbC', 'cbR'], ['chkC', 'chkR'], ['browC', 'browR'],
    ['bodyC', 'bodyR'], ['alaC', 'alaR'], ['lipUC', 'lipUR'], ['lipLC', 'lipLR'], ['earC', 'earR'], ['lobeC', 'lobeR']] as const) {
    add(g[c], g[r]);
  }
  for (const k of ['jawA', 'jawB', 'noseA', 'noseB', 'neckA', 'neckB', 'eye'] as const) add(g[k], [g[k][3], g[k][3], g[k][3]]);
  const m = 0.08;
  return {
    ...g,
    boxMin: [lo[0]! - m, lo[1]! - m, lo[2]! - m, 0],
    boxMax: [hi[0]! + m, hi[1]! + m, hi[2]! + m, 0],
    eyeBound: bound([ell(g.browC, g.browR), ell(g.sockC, g.sockR), lidSphere]),
    noseBound: bound([...cap(g.noseA, g.noseB), ell(g.bodyC, g.bodyR), ell(g.alaC, g.alaR), ell(g.nosC, g.nosR)]),
    mouthBound: bound([ell(g.lipUC, g.lipUR), ell(g.lipLC, g.lipLR), ell(g.slitC, g.slitR)]),
    earBound: bound([ell(g.earC, g.earR), ell(g.lobeC, g.lobeR), ell(g.bowlC, g.bowlR)]),
  };
}

/** The geometry record for shaders/face.wgsl (struct Geo). Paired parts are given on the subject's left (x > 0). */
export function faceGeometry(shape: readonly number[]): Float32Array {
  const g = faceShape(shape);
  return new Float32Array(GEO_FIELDS.flatMap((f) => g[f]));
}

export const GEO_VEC4S = faceGeometry([]).length / 4;

/**
 * Albedo record for shaders/face.wgsl (alb0..alb2 of struct Face): skin albedo, lip, eyebrow and
 * iris albedo (lip and eyebrow as factors on the skin); cheek darkening, forehead-to-chin gradient,
 * under-eye darkening, beard darkening; eyebrow thickness, ear/neck darkening, sclera, spare.
 */
export function faceAlbedo(texture: readonly number[]): Float32Array {
  const t = (i: number) => soft(texture[i], 3);
  return new Float32Array([
    0.62 + 0.09 * t(0),
    0.7 - 0.08 * t(1),
    0.4 - 0.12 * t(2),
    0.3 - 0.08 * t(3),
    0.07 * t(4),
    0.06 * t(5),
    0.1 + 0.04 * t(6),
    0.075 * (t(7) + Math.hypot(t(7), 0.5)), // a smooth max(0, 0.15 t): only some faces have a beard
    1 + 0.2 * t(8),
    0.07 * t(9),
    0.72,
    0,
  ]);
}

export const ALB_VEC4S = 3;
