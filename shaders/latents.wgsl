// DC-IGN's latent stage (sections 3.1, 3.2, 3.2.1) in one workgroup: mu and logvar [N, D] are
// the encoder's heads; [start, end) the pass-through latents of the gradient filter and of the
// clamp (0, D without a filter). Each invocation owns latents j = lid, lid + 256, ... and loops
// over the batch itself, so batch means need no pass of their own, and every sum runs in a fixed
// order (deterministic, no atomics). The code is a few thousand values (200 latents x 20 images
// in the paper), far too little to fill more than one workgroup.
//   forward:  z = mu + exp(0.5 * clamp(logvar, lo, hi)) * eps. FIRST: outside the range mu and
//             logvar are sample 0's (SelectiveOutputClamp.lua); MEAN: z is the batch mean of z
//             outside it. KL[0] = 0.5 * sum(mu^2 + exp(logvar) - 1 - logvar) over the clamped
//             mu, logvar (no logvar clamp), summed in workgroup memory.
//   BACKWARD: the gradients to the heads. Inside the range: the reparameterisation's (GZ to mu,
//             GZ * 0.5 * sigma * eps to logvar, 0 where logvar was clamped) plus, with GK,
//             GK[0] times the KL's (mu, 0.5 (exp(logvar) - 1)); the clamps pass gradients
//             straight through, and inside the range they pass every value through too.
//             Outside it the gradient filter's (SelectiveGradientFilter.lua): 0, or with
//             INVARIANCE strength * (x - batch mean of x) for both heads; with RELATIVE, mu's is
//             the gradient of strength / 2 * W / s as in selective.wgsl (S the sum of squares
//             and W the squared deviation from the batch means of mu outside the range, s = S
//             over its terms), summed here in workgroup memory.
// eps is EPS when bound, else drawn as reparameterise.wgsl draws it (rng.wgsl, prepended).

struct U {
  N: u32,
  D: u32,
  start: u32,
  end: u32,
  seed0: u32,
  seed1: u32,
  step: u32,
  strength: f32,
  lo: f32,
  hi: f32,
  _a: u32,
  _b: u32,
}

@group(0) @binding(0) var<uniform> u: U;
#if BACKWARD
// The optional bindings follow in this order, numbered by the *_AT defines (an unused binding
// must not be bound: pipelines take their layout from the shader).
@group(0) @binding(1) var<storage, read> LV: array<f32>;
@group(0) @binding(2) var<storage, read> GZ: array<f32>;
@group(0) @binding(3) var<storage, read_write> GMU: array<f32>;
@group(0) @binding(4) var<storage, read_write> GLV: array<f32>;
#if MU_AT
@group(0) @binding({{MU_AT}}) var<storage, read> MU: array<f32>;
#endif
#if EPS_AT
@group(0) @binding({{EPS_AT}}) var<storage, read> EPS: array<f32>;
#endif
#if GK_AT
@group(0) @binding({{GK_AT}}) var<storage, read> GK: array<f32>;
#endif
#else
@group(0) @binding(1) var<storage, read> MU: array<f32>;
@group(0) @binding(2) var<storage, read> LV: array<f32>;
@group(0) @binding(3) var<storage, read_write> Z: array<f32>;
@group(0) @binding(4) var<storage, read_write> KL: array<f32>;
#if EPS_AT
@group(0) @binding({{EPS_AT}}) var<storage, read> EPS: array<f32>;
#endif
#endif

const WG = 256u;
var<workgroup> part: array<vec2<f32>, WG>;

fn epsAt(i: u32) -> f32 {
#if EPS_AT
  return EPS[i];
#else
  return reparamNoise(i, u.seed0, u.seed1, u.step);
#endif
}

fn through(j: u32) -> bool {
  return j >= u.start && j < u.end;
}

fn sigmaOf(lv: f32) -> f32 {
  return exp(0.5 * clamp(lv, u.lo, u.hi));
}

// Sums part[] over the workgroup into part[0]; every invocation reads the result after it.
fn workgroupSum(lid: u32, v: vec2<f32>) -> vec2<f32> {
  part[lid] = v;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { part[lid] += part[lid + half]; }
    workgroupBarrier();
  }
  return part[0];
}

#if BACKWARD
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let N = u.N;
  let D = u.D;
#if RELATIVE
  var acc = vec2<f32>(0.0);
  for (var j = lid; j < D; j += WG) {
    if (through(j)) { continue; }
    var col = 0.0;
    for (var b = 0u; b < N; b++) {
      let v = MU[b * D + j];
      col += v;
      acc.x += v * v;
    }
    acc.y += col * col;
  }
  let sums = workgroupSum(lid, acc);
  let S = sums.x;
  let W = max(S - sums.y / f32(N), 0.0);
#endif
  for (var j = lid; j < D; j += WG) {
    if (through(j)) {
      for (var b = 0u; b < N; b++) {
        let i = b * D + j;
        let lv = LV[i];
        let g = GZ[i];
        var gm = g;
        var gl = select(0.0, g * 0.5 * sigmaOf(lv) * epsAt(i), lv >= u.lo && lv <= u.hi);
#if GK_AT
        let gk = GK[0];
        gm += gk * MU[i];
        gl += gk * 0.5 * (exp(lv) - 1.0);
#endif
        GMU[i] = gm;
        GLV[i] = gl;
      }
      continue;
    }
#if INVARIANCE
    var sm = 0.0;
    var sl = 0.0;
    for (var b = 0u; b < N; b++) {
      sm += MU[b * D + j];
      sl += LV[b * D + j];
    }
    let meanMu = sm / f32(N);
    let meanLv = sl / f32(N);
    for (var b = 0u; b < N; b++) {
      let i = b * D + j;
#if RELATIVE
      var gm = 0.0;
      if (S > 0.0) {
        let meanSquare = S / f32(N * (D - (u.end - u.start)));
        gm = (u.strength / meanSquare) * ((MU[i] - meanMu) - (W / S) * MU[i]);
      }
      GMU[i] = gm;
#else
      GMU[i] = u.strength * (MU[i] - meanMu);
#endif
      GLV[i] = u.strength * (LV[i] - meanLv);
    }
#else
    for (var b = 0u; b < N; b++) {
      GMU[b * D + j] = 0.0;
      GLV[b * D + j] = 0.0;
    }
#endif
  }
}
#else
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32) {
  let N = u.N;
  let D = u.D;
  var kl = 0.0;
  for (var j = lid; j < D; j += WG) {
#if MEAN
    var col = 0.0;
#endif
    for (var b = 0u; b < N; b++) {
      let i = b * D + j;
#if FIRST
      let src = select(j, i, through(j));
#else
      let src = i;
#endif
      let m = MU[src];
      let lv = LV[src];
      let z = m + sigmaOf(lv) * epsAt(i);
      Z[i] = z;
      kl += 0.5 * (m * m + exp(lv) - 1.0 - lv);
#if MEAN
      col += z;
#endif
    }
#if MEAN
    if (!through(j)) {
      let mean = col / f32(N);
      for (var b = 0u; b < N; b++) { Z[b * D + j] = mean; }
    }
#endif
  }
  let total = workgroupSum(lid, vec2<f32>(kl, 0.0));
  if (lid == 0u) { KL[0] = total.x; }
}
#endif
