// Elementwise maps: UNARY computes {{EXPR}} of x; otherwise {{EXPR}} of a and b with numpy
// broadcasting. Operands of the output's size are bound chunk by chunk and indexed locally;
// broadcast operands are bound whole and indexed through their strides (0 on broadcast axes).

struct U {
  n: u32,       // elements in this chunk
  base: u32,    // global index of the chunk's first element
  rank: u32,
  _pad: u32,
  p: vec4<f32>, // scalar parameters of the expression
  shape: array<vec4<u32>, 2>,
  sa: array<vec4<u32>, 2>,
  sb: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
#if UNARY
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
#else
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
#endif

fn strided(g: u32, useB: bool) -> u32 {
  var rem = g;
  var idx = 0u;
  for (var d = i32(u.rank) - 1; d >= 0; d--) {
    let s = u.shape[d / 4][d % 4];
    let c = rem % s;
    rem = rem / s;
    if (useB) { idx += c * u.sb[d / 4][d % 4]; } else { idx += c * u.sa[d / 4][d % 4]; }
  }
  return idx;
}

#if UNARY
fn op(x: f32) -> f32 { return {{EXPR}}; }
#else
fn op(a: f32, b: f32) -> f32 { return {{EXPR}}; }
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
#if A_FULL
  let a = A[i];
#else
  let a = A[strided(u.base + i, false)];
#endif
#if UNARY
  out[i] = op(a);
#else
#if B_FULL
  let b = B[i];
#else
  let b = B[strided(u.base + i, true)];
#endif
  out[i] = op(a, b);
#endif
}
