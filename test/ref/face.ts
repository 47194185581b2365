// Float64 CPU reference for the face renderer's centre samples (shaders/face.wgsl, `shade`): the
// same signed distance field evaluated from src/data/face-model.ts's parameters, a camera built
// here from the documented conventions with gl-matrix in float64 (not src/data/camera.ts), sphere
// tracing with the shader's stopping rule, and Lambert + ambient + soft-shadow shading.
import { mat4, vec3 } from 'gl-matrix';
import { AMBIENT, faceAlbedo, faceShape, HEAD_PIVOT, LIGHT_ELEVATION, type FaceParams } from '../../src/data/face-model.js';

type V = [number, number, number];
type V4 = [number, number, number, number];

// Scene constants as docs/data.md states them: the camera 9 head units (0.9 m) from the pivot,
// a view 2 x 1.58 units high at the pivot's depth, display gamma 1/1.6.
const DISTANCE = 9;
const HALF_EXTENT = 1.58;
const GAMMA = 1 / 1.6;

const add = (a: V, b: V): V => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const sub = (a: readonly number[], b: readonly number[]): V => [a[0]! - b[0]!, a[1]! - b[1]!, a[2]! - b[2]!];
const scale = (a: V, s: number): V => [a[0] * s, a[1] * s, a[2] * s];
const dot = (a: V, b: V) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
const len = (a: V) => Math.hypot(a[0], a[1], a[2]);
const norm = (a: V): V => scale(a, 1 / len(a));
const clamp = (x: number, lo: number, hi: number) => Math.min(Math.max(x, lo), hi);
const mix = (a: number, b: number, t: number) => a + (b - a) * t;
const smoothstep = (e0: number, e1: number, x: number) => {
  const t = clamp((x - e0) / (e1 - e0), 0, 1);
  return t * t * (3 - 2 * t);
};

function sdEll(p: V, r: readonly number[]): number {
  const k0 = Math.hypot(p[0] / r[0]!, p[1] / r[1]!, p[2] / r[2]!);
  const k1 = Math.hypot(p[0] / (r[0]! * r[0]!), p[1] / (r[1]! * r[1]!), p[2] / (r[2]! * r[2]!));
  return (k0 * (k0 - 1)) / Math.max(k1, 1e-6);
}

function sdTaper(p: V, a: V4, b: V4): number {
  const pa = sub(p, a);
  const ba = sub(b, a);
  const h = clamp(dot(pa, ba) / dot(ba, ba), 0, 1);
  return len(sub(pa, scale(ba, h))) - mix(a[3], b[3], h);
}

function smin(a: number, b: number, k: number): number {
  const h = Math.max(k - Math.abs(a - b), 0) / k;
  return Math.min(a, b) - h * h * k * 0.25;
}
const smax = (a: number, b: number, k: number) => -smin(-a, -b, k);
const carve = (d: number, p: V, r: readonly number[], k: number) => smax(d, -0.6 * sdEll(p, r), k);

type Geo = ReturnType<typeof faceShape>;

function sdf(g: Geo, p: V): number {
  const q: V = [Math.abs(p[0]), p[1], p[2]];
  const qs: V = [Math.sqrt(p[0] * p[0] + 0.0016), p[1], p[2]];
  let d = sdEll(sub(p, g.cranC), g.cranR);
  d = smin(d, sdEll(sub(p, g.faceC), g.faceR), 0.3);
  d = smin(d, sdTaper(qs, g.jawA, g.jawB), 0.25);
  d = smin(d, sdEll(sub(p, g.chinC), g.chinR), 0.15);
  d = smin(d, sdEll(sub(qs, g.cbC), g.cbR), 0.22);
  d = smin(d, sdEll(sub(qs, g.chkC), g.chkR), 0.2);
  d = smin(d, smax(sdTaper(p, g.neckA, g.neckB), g.neckB[1] - p[1], 0.1), 0.25);
  const e = sub(q, g.eye);
  if (len(sub(q, g.eyeBound)) - g.eyeBound[3] < d + 0.15) {
    d = smin(d, sdEll(sub(qs, g.browC), g.browR), 0.15);
    d = carve(d, sub(q, g.sockC), g.sockR, 0.08);
    const le = len(e);
    const u = e[0] / g.lid[0];
    const opening = Math.max(Math.abs(e[1]) - g.lid[1] * Math.max(1 - u * u, 0), -e[2]) * 0.7;
    d = smin(d, Math.max(le - g.eye[3] - g.lid[2], -opening), 0.03);
    d = Math.min(d, le - g.eye[3]);
  }
  if (len(sub(q, g.noseBound)) - g.noseBound[3] < d + 0.08) {
    d = smin(d, sdTaper(p, g.noseA, g.noseB), 0.08);
    d = smin(d, sdEll(sub(p, g.bodyC), g.bodyR), 0.08);
    d = smin(d, sdEll(sub(q, g.alaC), g.alaR), 0.04);
    d = carve(d, sub(q, g.nosC), g.nosR, 0.02);
  }
  if (len(sub(q, g.mouthBound)) - g.mouthBound[3] < d + 0.07) {
    d = smin(d, sdEll(sub(p, g.lipUC), g.lipUR), 0.07);
    d = smin(d, sdEll(sub(p, g.lipLC), g.lipLR), 0.07);
    d = carve(d, sub(p, g.slitC), g.slitR, 0.015);
  }
  if (len(sub(q, g.earBound)) - g.earBound[3] < d + 0.05) {
    let a = smin(sdEll(sub(q, g.earC), g.earR), sdEll(sub(q, g.lobeC), g.lobeR), 0.05);
    a = carve(a, sub(q, g.bowlC), g.bowlR, 0.03);
    d = smin(d, a, 0.05);
  }
  return d;
}

function albedo(g: Geo, a: Float32Array, p: V): number {
  const q: V = [Math.abs(p[0]), p[1], p[2]];
  const e = sub(q, g.eye);
  const le = len(e);
  if (le < g.eye[3] + 0.003) {
    const c = e[2] / le;
    const v = mix(a[10]!, a[3]!, smoothstep(0.86, 0.875, c));
    return mix(v, 0.05, smoothstep(0.965, 0.972, c));
  }
  let v = a[0]! * (1 + a[5]! * clamp(p[1], -1, 1));
  const lip = Math.min(sdEll(sub(p, g.lipUC), g.lipUR), sdEll(sub(p, g.lipLC), g.lipLR));
  v *= mix(1, a[1]!, 1 - smoothstep(0, 0.015, lip));
  const bx = (q[0] - g.eye[0] + 0.02) / 0.17;
  const by = p[1] - (g.eye[1] + 0.2 - 0.07 * bx * bx + 0.015 * bx);
  const brow = (1 - smoothstep(0.025 * a[8]!, 0.04 * a[8]!, Math.abs(by) - 0.01 * bx)) * (1 - smoothstep(0.85, 1.15, Math.abs(bx)))
    * smoothstep(g.eye[2] - 0.05, g.eye[2] + 0.05, q[2]);
  v *= mix(1, a[2]!, brow);
  const ck = sub(sub(q, g.chkC), [0, 0.08, 0.2]);
  v *= 1 - a[4]! * Math.exp(-dot(ck, ck) * 30);
  const ue = sub(sub(q, g.eye), [0, -0.13, 0.1]);
  const ue2: V = [ue[0], 2 * ue[1], ue[2]];
  v *= 1 - a[6]! * Math.exp(-dot(ue2, ue2) * 60);
  v *= 1 - a[7]! * smoothstep(g.noseB[1] - 0.12, g.noseB[1] - 0.4, p[1]) * smoothstep(0.15, 0.6, p[2]);
  const side = smoothstep(0.6, 0.75, q[0]) + smoothstep(g.chinC[1], g.chinC[1] - 0.25, p[1]) * smoothstep(0.2, -0.2, p[2]);
  v *= 1 - a[9]! * Math.min(side, 1);
  return clamp(v, 0.05, 1);
}

/** Entry and exit parameters of a ray through the head's box (entry clamped to 0). */
function boxSpan(g: Geo, ro: V, rd: V): [number, number] {
  let lo = 0;
  let hi = Infinity;
  for (let k = 0; k < 3; k++) {
    const a = (g.boxMin[k]! - ro[k]!) / rd[k]!;
    const b = (g.boxMax[k]! - ro[k]!) / rd[k]!;
    lo = Math.max(lo, Math.min(a, b));
    hi = Math.min(hi, Math.max(a, b));
  }
  return [lo, hi];
}

/** Direct light at surface point p (normal by central differences, then a soft shadow towards l). */
function lighting(g: Geo, p: V, l: V): { lit: number; shadow: number } {
  const H = 0.002;
  const n = norm([0, 1, 2].map((k) => {
    const o: V = [0, 0, 0];
    o[k] = H;
    return sdf(g, add(p, o)) - sdf(g, sub(p, o));
  }) as V);
  const lit = Math.max(dot(n, l), 0);
  if (lit <= 0) return { lit: 0, shadow: 0 };
  const sp = add(p, scale(n, 0.01));
  const exit = boxSpan(g, sp, l)[1];
  let res = 1;
  let st = 0.03;
  for (let k = 0; k < 16; k++) {
    const d = sdf(g, add(sp, scale(l, st)));
    res = Math.min(res, (10 * d) / st);
    st += clamp(d, 0.02, 0.3);
    if (res < 0.01 || st > exit) break;
  }
  const s = clamp(res, 0, 1);
  return { lit, shadow: s * s * (3 - 2 * s) };
}

/** The scene of one face in its head frame: camera position, pixel rays and the light. */
export interface FaceScene {
  geo: Geo;
  albedo: Float32Array;
  eye: V;
  light: V;
  size: number;
  /** Unit ray through image position (x, y) in pixels, y down. */
  ray(x: number, y: number): V;
}

export function faceScene(p: FaceParams, size: number): FaceScene {
  // Camera frame from head frame: turn the head by the azimuth about y (its nose towards the
  // image's right, +x), then tilt it up by the elevation (nose towards +y), both about the pivot.
  const f64 = () => new Float64Array(16);
  const toCamera = mat4.multiply(f64(), mat4.fromXRotation(f64(), -p.elevation), mat4.fromYRotation(f64(), p.azimuth));
  // Head frame from camera frame: the transpose (a rotation); points also shift by the pivot.
  const toHead = mat4.transpose(f64(), toCamera);
  const head = (v: readonly number[], point: boolean): V => {
    const r = vec3.transformMat4(new Float64Array(3), v as V, toHead);
    const o = point ? HEAD_PIVOT : [0, 0, 0];
    return [r[0]! + o[0]!, r[1]! + o[1]!, r[2]! + o[2]!];
  };
  const ce = Math.cos(LIGHT_ELEVATION);
  const tanHalf = HALF_EXTENT / DISTANCE;
  return {
    geo: faceShape(p.shape),
    albedo: faceAlbedo(p.texture),
    eye: head([0, 0, DISTANCE], true),
    light: head([Math.sin(p.light) * ce, Math.sin(LIGHT_ELEVATION), Math.cos(p.light) * ce], false),
    size,
    ray: (x, y) => norm(head([(2 * x / size - 1) * tanHalf, (1 - 2 * y / size) * tanHalf, -1], false)),
  };
}

/** One centre sample: the displayed value, or a miss; with the hit's Lambert and shadow terms. */
export interface FaceSample {
  hit: boolean;
  value: number;
  lit: number;
  shadow: number;
  /** Ray depth of the hit (head units), -1 on a miss. */
  depth: number;
  /**
   * The ray came within `graze` of the hit tolerance without deciding: a miss that nearly hit,
   * or a hit just under the tolerance on a ray that would otherwise have missed. Such rays may
   * go either way in float32.
   */
  grazing: boolean;
}

export function shadePixel(s: FaceScene, px: number, py: number, graze = 1e-3): FaceSample {
  const g = s.geo;
  const ro = s.eye;
  const rd = s.ray(px + 0.5, py + 0.5);
  const [t0, tmax] = boxSpan(g, ro, rd);
  const miss = (grazing: boolean): FaceSample => ({ hit: false, value: 0, lit: 0, shadow: 0, depth: -1, grazing });
  if (t0 >= tmax) return miss(false);
  // The tracer stops within half a pixel's footprint, after at most 48 steps of 0.9 d.
  const pixelAngle = (2 * HALF_EXTENT) / DISTANCE / s.size;
  const march = (from: number, steps: number) => {
    let t = from;
    let near = Infinity;
    for (let i = 0; i < steps; i++) {
      const d = sdf(g, add(ro, scale(rd, t)));
      const margin = d - 0.5 * pixelAngle * t;
      if (margin < 0) return { hit: true, t, d, margin, near, left: steps - 1 - i };
      near = Math.min(near, margin);
      t += d * 0.9;
      if (t > tmax) return { hit: false, t, d, margin, near, left: steps - 1 - i };
    }
    return { hit: false, t, d: 0, margin: 0, near, left: 0 };
  };
  const m = march(t0, 48);
  // Near decisions: a miss that came within `graze` or ran out of steps; a hit in the last
  // steps, or just under the tolerance where the march, had it gone on, would have missed.
  if (!m.hit) return miss(m.near < graze || m.left === 0);
  const { t, hit } = m;
  const grazing = m.left < 2 || (m.margin > -graze && !march(t + 0.9 * m.d, m.left).hit);
  const p = add(ro, scale(rd, t));
  const { lit, shadow } = lighting(g, p, s.light);
  const v = albedo(g, s.albedo, p) * (AMBIENT + (1 - AMBIENT) * lit * shadow);
  return { hit, value: Math.pow(v, GAMMA), lit, shadow, depth: t, grazing };
}

/** The resolve pass's thresholds (src/data/render.ts): a neighbour differs by this much depth or value. */
export const EDGE = { depth: 0.08, value: 0.1 };

/** An image's centre samples, row-major. */
export function shadeImage(s: FaceScene): FaceSample[] {
  const out: FaceSample[] = [];
  for (let y = 0; y < s.size; y++) for (let x = 0; x < s.size; x++) out.push(shadePixel(s, x, y));
  return out;
}

/**
 * The antialiased image: a pixel whose centre sample differs from a 4-neighbour's (a hit next
 * to a miss, or a step in value or depth) is the mean of its centre and a 2x2 grid of samples at
 * +-1/4 pixel. `uncertain` marks pixels whose value may differ in float32: a grazing sample among
 * the five, or a neighbour difference within `margin` of a threshold.
 */
export function resolveImage(s: FaceScene, centre: FaceSample[], margin = { value: 2e-3, depth: 1e-3 }): { value: number; edge: boolean; uncertain: boolean }[] {
  const n = s.size;
  return centre.map((c, i) => {
    const x = i % n;
    const y = Math.floor(i / n);
    let edge = false;
    let uncertain = c.grazing;
    for (const [dx, dy] of [[-1, 0], [1, 0], [0, -1], [0, 1]] as const) {
      const nb = centre[(y + dy) * n + x + dx];
      if (x + dx < 0 || x + dx >= n || nb === undefined) continue;
      uncertain ||= nb.grazing;
      const dv = Math.abs(c.value - nb.value);
      const dd = Math.abs(c.depth - nb.depth);
      uncertain ||= Math.abs(dv - EDGE.value) < margin.value || (c.hit && nb.hit && Math.abs(dd - EDGE.depth) < margin.depth);
      edge ||= c.hit !== nb.hit || dv > EDGE.value || (c.hit && dd > EDGE.depth);
    }
    if (!edge) return { value: c.value, edge, uncertain };
    let sum = c.value;
    for (const [ox, oy] of [[-0.25, -0.25], [0.25, -0.25], [-0.25, 0.25], [0.25, 0.25]] as const) {
      const sub = shadePixel(s, x + ox, y + oy);
      uncertain ||= sub.grazing;
      sum += sub.value;
    }
    return { value: Math.min(Math.max(sum / 5, 0), 1), edge, uncertain };
  });
}
