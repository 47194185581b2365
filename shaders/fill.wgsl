// Fills a tensor: MODE 0 constant p0; 1 uniform in [p0, p1); 2 normal with mean p0, sd p1.
// Random modes use the counter-based generator (rng.wgsl), keyed by the global element index.

struct U { n: u32, base: u32, seed0: u32, seed1: u32, p0: f32, p1: f32, _a: u32, _b: u32 }

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;

override MODE: u32 = 0u;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
  let g = u.base + i;
  var v = u.p0;
  if (MODE == 1u) {
    v = u.p0 + (u.p1 - u.p0) * (uniform1(g, u.seed0, u.seed1) - 1.0 / 16777216.0);
  } else if (MODE == 2u) {
    v = u.p0 + u.p1 * normal2(g, u.seed0, u.seed1).x;
  }
  out[i] = v;
}
