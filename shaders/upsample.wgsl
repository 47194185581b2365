// Nearest-neighbour upsampling of NCHW planes by an integer factor F. The forward reads, for each
// output pixel, the input pixel it copies; the backward (BACKWARD) runs one invocation per input
// pixel and sums the F x F output gradients that copied it: a gather, so no atomics.
//
// Tensors are bound as windows that start on an aligned byte offset at or before a chunk's first
// plane; inBase/outBase are the element offsets of that first plane within the bound windows.

struct U {
  n: u32,       // invocations in this chunk: outputs (forward) or inputs (backward)
  inBase: u32,
  outBase: u32,
  H: u32,       // input plane
  W: u32,
  F: u32,
  _a: u32,
  _b: u32,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;          // x (forward) or the output gradient
@group(0) @binding(2) var<storage, read_write> B: array<f32>;    // out (forward) or the input gradient

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
  let OW = u.W * u.F;
#if BACKWARD
  let hw = u.H * u.W;
  let p = i / hw;
  let r = i - p * hw;
  let ih = r / u.W;
  let iw = r - ih * u.W;
  let plane = u.outBase + p * hw * u.F * u.F;
  var acc = 0.0;
  for (var dy = 0u; dy < u.F; dy++) {
    let row = plane + (ih * u.F + dy) * OW + iw * u.F;
    for (var dx = 0u; dx < u.F; dx++) {
      acc += A[row + dx];
    }
  }
  B[u.inBase + i] = acc;
#else
  let ohw = u.H * u.W * u.F * u.F;
  let p = i / ohw;
  let r = i - p * ohw;
  let oh = r / OW;
  let ow = r - oh * OW;
  B[u.outBase + i] = A[u.inBase + p * u.H * u.W + (oh / u.F) * u.W + ow / u.F];
#endif
}
