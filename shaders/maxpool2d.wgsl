// 2-D max pooling over NCHW planes, windows of K x K at stride S with Torch's floor output size.
// The forward writes each window's maximum and, when INDICES, where it was (an offset within the
// input plane). The backward (BACKWARD) runs one invocation per input element, which gathers the
// gradients of the windows that contain it and chose it: no atomics, no scatter, deterministic.
//
// Tensors are bound as windows that start on an aligned byte offset at or before a chunk's first
// plane; inBase/outBase are the element offsets of that first plane within the bound windows.

struct U {
  n: u32,       // invocations in this chunk: outputs (forward) or inputs (backward)
  inBase: u32,
  outBase: u32,
  H: u32,
  W: u32,
  OH: u32,
  OW: u32,
  K: u32,
  S: u32,
  _a: u32,
  _b: u32,
  _c: u32,
}

@group(0) @binding(0) var<uniform> u: U;
#if BACKWARD
@group(0) @binding(1) var<storage, read> G: array<f32>;    // gradient of the outputs
@group(0) @binding(2) var<storage, read> IDX: array<u32>;  // argmax of each output window
@group(0) @binding(3) var<storage, read_write> GI: array<f32>;
#else
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
#if INDICES
@group(0) @binding(3) var<storage, read_write> IDX: array<u32>;
#endif
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
#if BACKWARD
  let hw = u.H * u.W;
  let p = i / hw;
  let r = i - p * hw;
  let ih = r / u.W;
  let iw = r - ih * u.W;
  // Windows oh with oh*S <= ih < oh*S + K; rows past the last window (floored away) get none.
  var ohLo = 0u;
  if (ih >= u.K) { ohLo = (ih - u.K) / u.S + 1u; }
  let ohHi = min(ih / u.S + 1u, u.OH);
  var owLo = 0u;
  if (iw >= u.K) { owLo = (iw - u.K) / u.S + 1u; }
  let owHi = min(iw / u.S + 1u, u.OW);
  let plane = u.outBase + p * u.OH * u.OW;
  var acc = 0.0;
  for (var oh = ohLo; oh < ohHi; oh++) {
    for (var ow = owLo; ow < owHi; ow++) {
      let o = plane + oh * u.OW + ow;
      if (IDX[o] == r) { acc += G[o]; }
    }
  }
  GI[u.inBase + i] = acc;
#else
  let ohw = u.OH * u.OW;
  let p = i / ohw;
  let r = i - p * ohw;
  let oh = r / u.OW;
  let ow = r - oh * u.OW;
  let plane = u.inBase + p * u.H * u.W;
  var best = X[plane + oh * u.S * u.W + ow * u.S];
  var at = oh * u.S * u.W + ow * u.S;
  // Row-major scan with a strict '>' so the first maximum wins ties, as PyTorch does.
  for (var kh = 0u; kh < u.K; kh++) {
    let row = (oh * u.S + kh) * u.W + ow * u.S;
    for (var kw = 0u; kw < u.K; kw++) {
      let v = X[plane + row + kw];
      if (v > best) {
        best = v;
        at = row + kw;
      }
    }
  }
  OUT[u.outBase + i] = best;
#if INDICES
  IDX[u.outBase + i] = at;
#endif
#endif
}
