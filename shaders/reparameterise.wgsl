// The VAE reparameterisation z = mu + exp(0.5 * clamp(logvar, lo, hi)) * eps. Without EXPLICIT,
// eps ~ N(0, 1) is drawn from the counter-based generator (rng.wgsl, prepended) keyed by
// (element index, seed, step): reproducible, and the same whatever the dispatch shape or
// chunking. The backward (BACKWARD) regenerates the same eps instead of storing it, and writes
// d/dlogvar = g * 0.5 * sigma * eps, zero where logvar was clamped. d/dmu = g needs no kernel.

struct U {
  n: u32,       // elements in this chunk
  base: u32,    // global index of the chunk's first element (the generator's counter)
  seed0: u32,
  seed1: u32,
  step: u32,
  lo: f32,
  hi: f32,
  _a: u32,
}

@group(0) @binding(0) var<uniform> u: U;
#if BACKWARD
@group(0) @binding(1) var<storage, read> G: array<f32>;
#else
@group(0) @binding(1) var<storage, read> MU: array<f32>;
#endif
@group(0) @binding(2) var<storage, read> LV: array<f32>;
#if EXPLICIT
@group(0) @binding(3) var<storage, read> EPS: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
#else
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
#if EXPLICIT
  let eps = EPS[i];
#else
  let eps = reparamNoise(u.base + i, u.seed0, u.seed1, u.step);
#endif
  let lv = LV[i];
  let sigma = exp(0.5 * clamp(lv, u.lo, u.hi));
#if BACKWARD
  OUT[i] = select(0.0, G[i] * 0.5 * sigma * eps, lv >= u.lo && lv <= u.hi);
#else
  OUT[i] = MU[i] + sigma * eps;
#endif
}
