// Morphable face renderer: sphere tracing of a signed distance field of smoothly blended
// primitives (src/data/face-model.ts gives their parameters per image), Lambertian shading with
// a directional light, ambient term and soft self-shadows. Two passes, one invocation per pixel:
// `trace` shades each pixel centre and keeps its depth; `resolve` supersamples the pixels whose
// neighbourhood shows an edge (silhouette, occlusion or shading step) and writes the image.

struct Params {
  width: u32,
  height: u32,
  image: u32,      // this image's index in `out`
  slot: u32,       // and in `centre`
  adaptive: u32,   // 0: centre sample only
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
  boxMin: vec4f, boxMax: vec4f,
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

// One dispatch per image: the image's record sits in the uniform block, which lavapipe reads
// as scalars shared by all lanes, instead of a copy kept live in every lane's registers.
struct Block {
  p: Params,
  f: Face,
}

@group(0) @binding(0) var<uniform> U: Block;
@group(0) @binding(1) var<storage, read_write> centre: array<vec2f>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

const MAX_STEPS = 48u;
const SHADOW_STEPS = 16u;

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

// Carves ellipsoid r at p out of a field. Inside a flat ellipsoid the first-order distance
// overestimates, which lets the march step through thin walls (the ear's rim); damping the
// carved term keeps the surface and makes the step safe.
fn carve(d: f32, p: vec3f, r: vec3f, k: f32) -> f32 {
  return smax(d, -0.6 * sdEll(p, r), k);
}

fn sdf(p: vec3f) -> f32 {
  // Paired parts are evaluated once on the mirrored point: the head is exactly symmetric.
  let q = vec3f(abs(p.x), p.y, p.z);
  // Broad paired parts blend across the midline: a smooth |x| there avoids a crease.
  let qs = vec3f(sqrt(p.x * p.x + 0.0016), p.y, p.z);
  var d = sdEll(p - U.f.g.cranC.xyz, U.f.g.cranR.xyz);
  d = smin(d, sdEll(p - U.f.g.faceC.xyz, U.f.g.faceR.xyz), 0.3);
  d = smin(d, sdTaper(qs, U.f.g.jawA, U.f.g.jawB), 0.25);
  d = smin(d, sdEll(p - U.f.g.chinC.xyz, U.f.g.chinR.xyz), 0.15);
  d = smin(d, sdEll(qs - U.f.g.cbC.xyz, U.f.g.cbR.xyz), 0.22);
  d = smin(d, sdEll(qs - U.f.g.chkC.xyz, U.f.g.chkR.xyz), 0.2);
  // The neck ends in a flat, rounded-edged cut, like a bust's.
  d = smin(d, smax(sdTaper(p, U.f.g.neckA, U.f.g.neckB), U.f.g.neckB.y - p.y, 0.1), 0.25);

  // Eyes: brow ridge, socket, lids with an almond opening, eyeball.
  let e = q - U.f.g.eye.xyz;
  if (length(q - U.f.g.eyeBound.xyz) - U.f.g.eyeBound.w < d + 0.15) {
    d = smin(d, sdEll(qs - U.f.g.browC.xyz, U.f.g.browR.xyz), 0.15);
    d = carve(d, q - U.f.g.sockC.xyz, U.f.g.sockR.xyz, 0.08);
    let le = length(e);
    let u = e.x / U.f.g.lid.x;
    let opening = max(abs(e.y) - U.f.g.lid.y * max(1.0 - u * u, 0.0), -e.z) * 0.7;
    d = smin(d, max(le - U.f.g.eye.w - U.f.g.lid.z, -opening), 0.03);
    d = min(d, le - U.f.g.eye.w);
  }

  // Nose: bridge-to-tip tapered capsule, the body under it, alae, nostrils.
  if (length(q - U.f.g.noseBound.xyz) - U.f.g.noseBound.w < d + 0.08) {
    d = smin(d, sdTaper(p, U.f.g.noseA, U.f.g.noseB), 0.08);
    d = smin(d, sdEll(p - U.f.g.bodyC.xyz, U.f.g.bodyR.xyz), 0.08);
    d = smin(d, sdEll(q - U.f.g.alaC.xyz, U.f.g.alaR.xyz), 0.04);
    d = carve(d, q - U.f.g.nosC.xyz, U.f.g.nosR.xyz, 0.02);
  }

  // Mouth: two lips and the slit between them.
  if (length(q - U.f.g.mouthBound.xyz) - U.f.g.mouthBound.w < d + 0.07) {
    d = smin(d, sdEll(p - U.f.g.lipUC.xyz, U.f.g.lipUR.xyz), 0.07);
    d = smin(d, sdEll(p - U.f.g.lipLC.xyz, U.f.g.lipLR.xyz), 0.07);
    d = carve(d, p - U.f.g.slitC.xyz, U.f.g.slitR.xyz, 0.015);
  }

  // Ears: helix and lobe, hollowed by the concha.
  if (length(q - U.f.g.earBound.xyz) - U.f.g.earBound.w < d + 0.05) {
    var a = smin(sdEll(q - U.f.g.earC.xyz, U.f.g.earR.xyz), sdEll(q - U.f.g.lobeC.xyz, U.f.g.lobeR.xyz), 0.05);
    a = carve(a, q - U.f.g.bowlC.xyz, U.f.g.bowlR.xyz, 0.03);
    d = smin(d, a, 0.05);
  }
  return d;
}

fn albedo(p: vec3f) -> f32 {
  let q = vec3f(abs(p.x), p.y, p.z);
  let a0 = U.f.alb0;
  let a1 = U.f.alb1;
  let a2 = U.f.alb2;
  let e = q - U.f.g.eye.xyz;
  let le = length(e);
  if (le < U.f.g.eye.w + 0.003) {
    // Eyeball looking straight ahead: sclera, iris, pupil by the angle from the gaze axis.
    let c = e.z / le;
    var v = mix(a2.z, a0.w, smoothstep(0.86, 0.875, c));
    return mix(v, 0.05, smoothstep(0.965, 0.972, c));
  }
  var v = a0.x * (1.0 + a1.y * clamp(p.y, -1.0, 1.0));
  // Lips.
  let lip = min(sdEll(p - U.f.g.lipUC.xyz, U.f.g.lipUR.xyz), sdEll(p - U.f.g.lipLC.xyz, U.f.g.lipLR.xyz));
  v *= mix(1.0, a0.y, 1.0 - smoothstep(0.0, 0.015, lip));
  // Eyebrows: an arc over each eye on the front of the head.
  let bx = (q.x - U.f.g.eye.x + 0.02) / 0.17;
  let by = p.y - (U.f.g.eye.y + 0.2 - 0.07 * bx * bx + 0.015 * bx);
  let brow = (1.0 - smoothstep(0.025 * a2.x, 0.04 * a2.x, abs(by) - 0.01 * bx)) * (1.0 - smoothstep(0.85, 1.15, abs(bx)))
    * smoothstep(U.f.g.eye.z - 0.05, U.f.g.eye.z + 0.05, q.z);
  v *= mix(1.0, a0.z, brow);
  // Cheek colour, darker under the eyes, beard shadow.
  let ck = q - U.f.g.chkC.xyz - vec3f(0.0, 0.08, 0.2);
  v *= 1.0 - a1.x * exp(-dot(ck, ck) * 30.0);
  let ue = q - U.f.g.eye.xyz - vec3f(0.0, -0.13, 0.1);
  v *= 1.0 - a1.z * exp(-dot(ue * vec3f(1.0, 2.0, 1.0), ue * vec3f(1.0, 2.0, 1.0)) * 60.0);
  let bd = smoothstep(U.f.g.noseB.y - 0.12, U.f.g.noseB.y - 0.4, p.y) * smoothstep(0.15, 0.6, p.z);
  v *= 1.0 - a1.w * bd;
  // Ears and neck.
  let side = smoothstep(0.6, 0.75, q.x) + smoothstep(U.f.g.chinC.y, U.f.g.chinC.y - 0.25, p.y) * smoothstep(0.2, -0.2, p.z);
  v *= 1.0 - a2.y * min(side, 1.0);
  return clamp(v, 0.05, 1.0);
}

fn rayDir(px: vec2f) -> vec3f {
  let ndc = vec2f(2.0 * px.x / f32(U.p.width) - 1.0, 1.0 - 2.0 * px.y / f32(U.p.height));
  let a = U.f.inv * vec4f(ndc, -1.0, 1.0);
  let b = U.f.inv * vec4f(ndc, 1.0, 1.0);
  return normalize(b.xyz / b.w - a.xyz / a.w);
}

// Entry and exit parameters of a ray through the head's bounding box (entry clamped to 0).
fn boxSpan(ro: vec3f, rd: vec3f) -> vec2f {
  let inv = 1.0 / rd;
  let a = (U.f.g.boxMin.xyz - ro) * inv;
  let b = (U.f.g.boxMax.xyz - ro) * inv;
  let lo = min(a, b);
  let hi = max(a, b);
  return vec2f(max(max(lo.x, lo.y), max(lo.z, 0.0)), min(hi.x, min(hi.y, hi.z)));
}

fn axis(k: u32) -> vec3f {
  return vec3f(select(0.0, 1.0, k == 0u), select(0.0, 1.0, k == 1u), select(0.0, 1.0, k == 2u));
}

// Direct light reaching surface point p from direction l (0 to 1): the normal and a soft shadow
// in one loop around a single sdf() call, because lavapipe inlines every call site of the
// (large) field. Steps 0-5 are central differences (symmetric under x -> -x, so mirrored faces
// shade alike); then the shadow ray marches towards the light.
fn lighting(p: vec3f, l: vec3f) -> f32 {
  const H = 0.002;
  var grad = vec3f(0.0);
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
      let n = normalize(grad);
      lit = max(dot(n, l), 0.0);
      if (lit <= 0.0) { return 0.0; }
      sp = p + n * 0.01;
      sexit = boxSpan(sp, l).y;
    } else {
      res = min(res, 10.0 * d / st);
      st += clamp(d, 0.02, 0.3);
      if (res < 0.01 || st > sexit) { break; }
    }
    q = sp + l * st;
  }
  let s = clamp(res, 0.0, 1.0);
  return lit * s * s * (3.0 - 2.0 * s);
}

// (value, depth) of the ray through pixel position px; depth -1 when the ray misses.
fn shade(px: vec2f) -> vec2f {
  let ro = U.f.eye.xyz;
  let rd = rayDir(px);
  let span = boxSpan(ro, rd);
  if (span.x >= span.y) { return vec2f(0.0, -1.0); }
  var t = span.x;
  let tmax = span.y;
  var hit = false;
  for (var i = 0u; i < MAX_STEPS; i++) {
    let d = sdf(ro + rd * t);
    // A hit within half a pixel's footprint: finer would only cost steps.
    if (d < 0.5 * U.f.eye.w * t) { hit = true; break; }
    t += d * 0.9;
    if (t > tmax) { break; }
  }
  if (!hit) { return vec2f(0.0, -1.0); }
  let p = ro + rd * t;
  let lit = lighting(p, U.f.light.xyz);
  let v = albedo(p) * (U.p.ambient + (1.0 - U.p.ambient) * lit);
  return vec2f(pow(v, U.p.gamma), t);
}

@compute @workgroup_size(8, 8, 1)
fn trace(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x >= U.p.width || gid.y >= U.p.height) { return; }
  let i = (U.p.slot * U.p.height + gid.y) * U.p.width + gid.x;
  centre[i] = shade(vec2f(f32(gid.x) + 0.5, f32(gid.y) + 0.5));
}

fn differs(a: vec2f, b: vec2f) -> bool {
  if ((a.y < 0.0) != (b.y < 0.0)) { return true; }
  return abs(a.x - b.x) > U.p.edgeValue || (a.y > 0.0 && abs(a.y - b.y) > U.p.edgeDepth);
}

// Edge pixels of the tile, compacted so that the lanes share their subsamples evenly: without
// it an 8-lane vector with one edge pixel would run four full rays on every lane.
var<workgroup> edgeList: array<u32, 64>;
var<workgroup> edgeCount: atomic<u32>;
var<workgroup> subValue: array<f32, 256>;

@compute @workgroup_size(8, 8, 1)
fn resolve(@builtin(global_invocation_id) gid: vec3u, @builtin(local_invocation_index) li: u32,
           @builtin(workgroup_id) wid: vec3u) {
  if (li == 0u) { atomicStore(&edgeCount, 0u); }
  workgroupBarrier();
  let inside = gid.x < U.p.width && gid.y < U.p.height;
  let i = (U.p.slot * U.p.height + gid.y) * U.p.width + gid.x;
  var c = vec2f(0.0);
  var slot = 0xffffffffu;
  if (inside) {
    c = centre[i];
    var edge = false;
    if (U.p.adaptive != 0u) {
      if (gid.x > 0u) { edge = edge || differs(c, centre[i - 1u]); }
      if (gid.x + 1u < U.p.width) { edge = edge || differs(c, centre[i + 1u]); }
      if (gid.y > 0u) { edge = edge || differs(c, centre[i - U.p.width]); }
      if (gid.y + 1u < U.p.height) { edge = edge || differs(c, centre[i + U.p.width]); }
    }
    if (edge) {
      slot = atomicAdd(&edgeCount, 1u);
      edgeList[slot] = li;
    }
  }
  workgroupBarrier();
  let n = atomicLoad(&edgeCount);
  if (n > 0u) {
    // A 2x2 grid around the centre sample: symmetric, as the mirror test needs.
    for (var k = li; k < 4u * n; k += 64u) {
      let e = edgeList[k / 4u];
      let s = k % 4u;
      let px = vec2f(f32(wid.x * 8u + e % 8u) + 0.5, f32(wid.y * 8u + e / 8u) + 0.5);
      let o = vec2f(select(-0.25, 0.25, (s & 1u) != 0u), select(-0.25, 0.25, s >= 2u));
      subValue[k] = shade(px + o).x;
    }
  }
  workgroupBarrier();
  if (!inside) { return; }
  var v = c.x;
  if (slot != 0xffffffffu) {
    // Summed in subsample order, whatever order the slots were handed out in.
    let b = 4u * slot;
    v = (v + subValue[b] + subValue[b + 1u] + subValue[b + 2u] + subValue[b + 3u]) * 0.2;
  }
  out[((U.p.image * U.p.height) + gid.y) * U.p.width + gid.x] = clamp(v, 0.0, 1.0);
}
