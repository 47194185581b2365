// Morphable face renderer: sphere tracing of a signed distance field of smoothly blended
// primitives (src/data/face-model.ts gives their parameters per image), Lambertian shading with
// a directional light, ambient term and soft self-shadows. Two passes, one invocation per pixel:
// `trace` shades each pixel centre and keeps its depth; `resolve` supersamples the pixels whose
// neighbourhood shows an edge (silhouette, occlusion or shading step) and writes the image.

struct Params {
  width: u32,
  height: u32,
  first: u32,      // index of the chunk's first image in `faces` and `out`
  adaptive: u32,   // 0: centre sample only
  pivot: vec3f,    // bounding sphere centre, head frame
  bound: f32,      // bounding sphere radius
  ambient: f32,
  edgeDepth: f32,
  edgeValue: f32,
  gamma: f32,
}

struct Geo {
  cranC: vec4f, cranR: vec4f,
  faceC: vec4f, faceR: vec4f,
  jawA: vec4f, jawB: vec4f,
  chinC: vec4f, chinR: vec4f,
  cbC: vec4f, cbR: vec4f,
  chkC: vec4f, chkR: vec4f,
  browC: vec4f, browR: vec4f,
  eye: vec4f, sockC: vec4f, sockR: vec4f, lid: vec4f,
  noseA: vec4f, noseB: vec4f, bodyC: vec4f, bodyR: vec4f, alaC: vec4f, alaR: vec4f, nosC: vec4f, nosR: vec4f,
  lipUC: vec4f, lipUR: vec4f, lipLC: vec4f, lipLR: vec4f, slitC: vec4f, slitR: vec4f,
  earC: vec4f, earR: vec4f, lobeC: vec4f, lobeR: vec4f, bowlC: vec4f, bowlR: vec4f,
  neckA: vec4f, neckB: vec4f,
  eyeBound: vec4f, noseBound: vec4f, mouthBound: vec4f, earBound: vec4f,
}

struct Face {
  inv: mat4x4f,
  eye: vec4f,    // xyz camera position, w pixel angle
  light: vec4f,  // xyz unit vector to the light
  g: Geo,
  alb0: vec4f,   // skin, lip, eyebrow, iris
  alb1: vec4f,   // cheek, vertical gradient, under-eye, beard
  alb2: vec4f,   // eyebrow thickness, ear/neck tone, sclera, -
}

@group(0) @binding(0) var<uniform> P: Params;
@group(0) @binding(1) var<storage, read> faces: array<Face>;
@group(0) @binding(2) var<storage, read_write> centre: array<vec2f>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

// The current image's record, copied once per invocation: the tracer reads it hundreds of times.
var<private> F: Face;

const MAX_STEPS = 72u;
const SHADOW_STEPS = 24u;

fn sdEll(p: vec3f, r: vec3f) -> f32 {
  // First-order ellipsoid distance: exact on the surface, a bound nearby, cheap.
  let k0 = length(p / r);
  let k1 = length(p / (r * r));
  return k0 * (k0 - 1.0) / max(k1, 1e-6);
}

fn sdTaper(p: vec3f, a: vec4f, b: vec4f) -> f32 {
  // Capsule from a.xyz to b.xyz whose radius goes from a.w to b.w.
  let pa = p - a.xyz;
  let ba = b.xyz - a.xyz;
  let h = clamp(dot(pa, ba) / dot(ba, ba), 0.0, 1.0);
  return length(pa - ba * h) - mix(a.w, b.w, h);
}

fn smin(a: f32, b: f32, k: f32) -> f32 {
  // Quadratic smooth minimum: equal to min() once |a - b| >= k, which lets bounding
  // spheres skip far groups without changing the field.
  let h = max(k - abs(a - b), 0.0) / k;
  return min(a, b) - h * h * k * 0.25;
}

fn smax(a: f32, b: f32, k: f32) -> f32 {
  return -smin(-a, -b, k);
}

fn sdf(p: vec3f) -> f32 {
  // Paired parts are evaluated once on the mirrored point: the head is exactly symmetric.
  let q = vec3f(abs(p.x), p.y, p.z);
  // Broad paired parts blend across the midline: a smooth |x| there avoids a crease.
  let qs = vec3f(sqrt(p.x * p.x + 0.0016), p.y, p.z);
  var d = sdEll(p - F.g.cranC.xyz, F.g.cranR.xyz);
  d = smin(d, sdEll(p - F.g.faceC.xyz, F.g.faceR.xyz), 0.3);
  d = smin(d, sdTaper(qs, F.g.jawA, F.g.jawB), 0.25);
  d = smin(d, sdEll(p - F.g.chinC.xyz, F.g.chinR.xyz), 0.15);
  d = smin(d, sdEll(qs - F.g.cbC.xyz, F.g.cbR.xyz), 0.15);
  d = smin(d, sdEll(qs - F.g.chkC.xyz, F.g.chkR.xyz), 0.2);
  // The neck ends in a flat, rounded-edged cut, like a bust's.
  d = smin(d, smax(sdTaper(p, F.g.neckA, F.g.neckB), F.g.neckB.y - p.y, 0.1), 0.25);

  // Eyes: brow ridge, socket, lids with an almond opening, eyeball.
  let e = q - F.g.eye.xyz;
  if (length(q - F.g.eyeBound.xyz) - F.g.eyeBound.w < d + 0.15) {
    d = smin(d, sdEll(qs - F.g.browC.xyz, F.g.browR.xyz), 0.15);
    d = smax(d, -sdEll(q - F.g.sockC.xyz, F.g.sockR.xyz), 0.08);
    let le = length(e);
    let u = e.x / F.g.lid.x;
    let opening = max(abs(e.y) - F.g.lid.y * max(1.0 - u * u, 0.0), -e.z) * 0.7;
    d = smin(d, max(le - F.g.eye.w - F.g.lid.z, -opening), 0.03);
    d = min(d, le - F.g.eye.w);
  }

  // Nose: bridge-to-tip tapered capsule, the body under it, alae, nostrils.
  if (length(q - F.g.noseBound.xyz) - F.g.noseBound.w < d + 0.08) {
    d = smin(d, sdTaper(p, F.g.noseA, F.g.noseB), 0.08);
    d = smin(d, sdEll(p - F.g.bodyC.xyz, F.g.bodyR.xyz), 0.08);
    d = smin(d, sdEll(q - F.g.alaC.xyz, F.g.alaR.xyz), 0.04);
    d = smax(d, -sdEll(q - F.g.nosC.xyz, F.g.nosR.xyz), 0.02);
  }

  // Mouth: two lips and the slit between them.
  if (length(q - F.g.mouthBound.xyz) - F.g.mouthBound.w < d + 0.07) {
    d = smin(d, sdEll(p - F.g.lipUC.xyz, F.g.lipUR.xyz), 0.07);
    d = smin(d, sdEll(p - F.g.lipLC.xyz, F.g.lipLR.xyz), 0.07);
    d = smax(d, -sdEll(p - F.g.slitC.xyz, F.g.slitR.xyz), 0.015);
  }

  // Ears: helix and lobe, hollowed by the concha.
  if (length(q - F.g.earBound.xyz) - F.g.earBound.w < d + 0.05) {
    var a = smin(sdEll(q - F.g.earC.xyz, F.g.earR.xyz), sdEll(q - F.g.lobeC.xyz, F.g.lobeR.xyz), 0.05);
    a = smax(a, -sdEll(q - F.g.bowlC.xyz, F.g.bowlR.xyz), 0.03);
    d = smin(d, a, 0.05);
  }
  return d;
}

fn albedo(p: vec3f) -> f32 {
  let q = vec3f(abs(p.x), p.y, p.z);
  let a0 = F.alb0;
  let a1 = F.alb1;
  let a2 = F.alb2;
  let e = q - F.g.eye.xyz;
  let le = length(e);
  if (le < F.g.eye.w + 0.003) {
    // Eyeball looking straight ahead: sclera, iris, pupil by the angle from the gaze axis.
    let c = e.z / le;
    var v = mix(a2.z, a0.w, smoothstep(0.86, 0.875, c));
    return mix(v, 0.05, smoothstep(0.965, 0.972, c));
  }
  var v = a0.x * (1.0 + a1.y * clamp(p.y, -1.0, 1.0));
  // Lips.
  let lip = min(sdEll(p - F.g.lipUC.xyz, F.g.lipUR.xyz), sdEll(p - F.g.lipLC.xyz, F.g.lipLR.xyz));
  v *= mix(1.0, a0.y, 1.0 - smoothstep(0.0, 0.015, lip));
  // Eyebrows: an arc over each eye on the front of the head.
  let bx = (q.x - F.g.eye.x + 0.02) / 0.17;
  let by = p.y - (F.g.eye.y + 0.2 - 0.07 * bx * bx + 0.015 * bx);
  let brow = (1.0 - smoothstep(0.025 * a2.x, 0.04 * a2.x, abs(by) - 0.01 * bx)) * (1.0 - smoothstep(0.85, 1.15, abs(bx)))
    * smoothstep(F.g.eye.z - 0.05, F.g.eye.z + 0.05, q.z);
  v *= mix(1.0, a0.z, brow);
  // Cheek colour, darker under the eyes, beard shadow.
  let ck = q - F.g.chkC.xyz - vec3f(0.0, 0.08, 0.2);
  v *= 1.0 - a1.x * exp(-dot(ck, ck) * 30.0);
  let ue = q - F.g.eye.xyz - vec3f(0.0, -0.13, 0.1);
  v *= 1.0 - a1.z * exp(-dot(ue * vec3f(1.0, 2.0, 1.0), ue * vec3f(1.0, 2.0, 1.0)) * 60.0);
  let bd = smoothstep(F.g.noseB.y - 0.15, F.g.noseB.y - 0.3, p.y) * smoothstep(0.0, 0.4, p.z);
  v *= 1.0 - a1.w * bd;
  // Ears and neck.
  let side = smoothstep(0.6, 0.75, q.x) + smoothstep(F.g.chinC.y, F.g.chinC.y - 0.25, p.y) * smoothstep(0.2, -0.2, p.z);
  v *= 1.0 - a2.y * min(side, 1.0);
  return clamp(v, 0.05, 1.0);
}

fn rayDir(px: vec2f) -> vec3f {
  let ndc = vec2f(2.0 * px.x / f32(P.width) - 1.0, 1.0 - 2.0 * px.y / f32(P.height));
  let a = F.inv * vec4f(ndc, -1.0, 1.0);
  let b = F.inv * vec4f(ndc, 1.0, 1.0);
  return normalize(b.xyz / b.w - a.xyz / a.w);
}

fn axis(k: u32) -> vec3f {
  return vec3f(select(0.0, 1.0, k == 0u), select(0.0, 1.0, k == 1u), select(0.0, 1.0, k == 2u));
}

// Normal and soft shadow at a surface point in one loop around a single sdf() call: lavapipe
// inlines every call site, and the field is large, so fewer copies mean a much faster compile.
// Steps 0-5 are central differences (symmetric under x -> -x, so mirrored faces shade alike);
// then the shadow ray marches towards the light. Returns (normal, light factor).
fn lighting(p: vec3f, l: vec3f) -> vec4f {
  const H = 0.002;
  var grad = vec3f(0.0);
  var n = vec3f(0.0, 0.0, 1.0);
  var lit = 0.0;
  var res = 1.0;
  var st = 0.03;
  var sp = p;
  var sexit = 0.0;
  var q = p + H * axis(0u);
  for (var k = 0u; k < 6u + SHADOW_STEPS; k++) {
    let d = sdf(q);
    if (k < 6u) {
      grad += axis(k % 3u) * select(d, -d, k >= 3u);
      if (k < 5u) {
        q = p + axis((k + 1u) % 3u) * select(H, -H, k + 1u >= 3u);
        continue;
      }
      n = normalize(grad);
      lit = max(dot(n, l), 0.0);
      if (lit <= 0.0) { return vec4f(n, 0.0); }
      sp = p + n * 0.01;
      let so = sp - P.pivot;
      let sb = dot(so, l);
      sexit = -sb + sqrt(max(sb * sb - (dot(so, so) - P.bound * P.bound), 0.0));
    } else {
      res = min(res, 10.0 * d / st);
      st += clamp(d, 0.02, 0.3);
      if (res < 0.01 || st > sexit) { break; }
    }
    q = sp + l * st;
  }
  let s = clamp(res, 0.0, 1.0);
  return vec4f(n, lit * s * s * (3.0 - 2.0 * s));
}

// (value, depth) of the ray through pixel position px; depth -1 when the ray misses.
fn shade(px: vec2f) -> vec2f {
  let ro = F.eye.xyz;
  let rd = rayDir(px);
  let oc = ro - P.pivot;
  let b = dot(oc, rd);
  let disc = b * b - (dot(oc, oc) - P.bound * P.bound);
  if (disc <= 0.0) { return vec2f(0.0, -1.0); }
  let sq = sqrt(disc);
  var t = max(-b - sq, 0.0);
  let tmax = -b + sq;
  var hit = false;
  for (var i = 0u; i < MAX_STEPS; i++) {
    let d = sdf(ro + rd * t);
    if (d < 0.5 * F.eye.w * t) { hit = true; break; }
    t += d * 0.9;
    if (t > tmax) { break; }
  }
  if (!hit) { return vec2f(0.0, -1.0); }
  let p = ro + rd * t;
  let lit = lighting(p, F.light.xyz).w;
  let v = albedo(p) * (P.ambient + (1.0 - P.ambient) * lit);
  return vec2f(pow(v, P.gamma), t);
}

@compute @workgroup_size(8, 8, 1)
fn trace(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= P.width || gid.y >= P.height) { return; }
  F = faces[P.first + gid.z];
  let i = (gid.z * P.height + gid.y) * P.width + gid.x;
  centre[i] = shade(vec2f(f32(gid.x) + 0.5, f32(gid.y) + 0.5));
}

fn differs(a: vec2f, b: vec2f) -> bool {
  if ((a.y < 0.0) != (b.y < 0.0)) { return true; }
  return abs(a.x - b.x) > P.edgeValue || (a.y > 0.0 && abs(a.y - b.y) > P.edgeDepth);
}

@compute @workgroup_size(8, 8, 1)
fn resolve(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= P.width || gid.y >= P.height) { return; }
  let row = gid.z * P.height;
  let i = (row + gid.y) * P.width + gid.x;
  let c = centre[i];
  var edge = false;
  if (P.adaptive != 0u) {
    if (gid.x > 0u) { edge = edge || differs(c, centre[i - 1u]); }
    if (gid.x + 1u < P.width) { edge = edge || differs(c, centre[i + 1u]); }
    if (gid.y > 0u) { edge = edge || differs(c, centre[i - P.width]); }
    if (gid.y + 1u < P.height) { edge = edge || differs(c, centre[i + P.width]); }
  }
  var v = c.x;
  if (edge) {
    // A 2x2 grid around the centre sample (symmetric, as the mirror test needs), centre included.
    F = faces[P.first + gid.z];
    let px = vec2f(f32(gid.x) + 0.5, f32(gid.y) + 0.5);
    for (var k = 0u; k < 4u; k++) {
      let o = vec2f(select(-0.25, 0.25, (k & 1u) != 0u), select(-0.25, 0.25, k >= 2u));
      v += shade(px + o).x;
    }
    v *= 0.2;
  }
  out[P.first * P.width * P.height + i] = clamp(v, 0.0, 1.0);
}
