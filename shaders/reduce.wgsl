// Sum over a set of axes, times a scale. The input is seen as kept axes x reduced axes with
// arbitrary strides; one workgroup sums one split of one output element, then a second pass
// (the same kernel over [outputs, splits]) sums the splits. No atomics: results are deterministic.
// SERIAL: one invocation per output sums its few reduced elements alone (a bias gradient over a
// small batch), since a 256-lane tree with barriers per output costs far more on CPU adapters.

struct U {
  outCount: u32,
  redCount: u32,
  keptRank: u32,
  redRank: u32,
  splits: u32,
  chunk: u32,   // reduced elements per split
  scale: f32,
  _pad: u32,
  keptShape: array<vec4<u32>, 2>,
  keptStride: array<vec4<u32>, 2>,
  redShape: array<vec4<u32>, 2>,
  redStride: array<vec4<u32>, 2>,
}

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

#if SERIAL
const WG = 64u;
#else
const WG = 256u;
var<workgroup> partial: array<f32, WG>;
#endif

fn keptOffset(o: u32) -> u32 {
  var rem = o;
  var off = 0u;
  for (var d = i32(u.keptRank) - 1; d >= 0; d--) {
    let s = u.keptShape[d / 4][d % 4];
    off += (rem % s) * u.keptStride[d / 4][d % 4];
    rem = rem / s;
  }
  return off;
}

fn redOffset(r: u32) -> u32 {
  var rem = r;
  var off = 0u;
  for (var d = i32(u.redRank) - 1; d >= 0; d--) {
    let s = u.redShape[d / 4][d % 4];
    off += (rem % s) * u.redStride[d / 4][d % 4];
    rem = rem / s;
  }
  return off;
}

#if SERIAL
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= u.outCount) { return; }
  let base = keptOffset(o);
  var acc = 0.0;
  for (var r = 0u; r < u.redCount; r++) {
    acc += X[base + redOffset(r)];
  }
  out[o] = acc * u.scale;
}
#else
@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lid: u32, @builtin(workgroup_id) wid: vec3<u32>,
        @builtin(num_workgroups) nwg: vec3<u32>) {
  let w = wid.x + wid.y * nwg.x;
  let live = w < u.outCount * u.splits;
  var acc = 0.0;
  if (live) {
    let o = w / u.splits;
    let s = w % u.splits;
    let base = keptOffset(o);
    let end = min((s + 1u) * u.chunk, u.redCount);
    for (var r = s * u.chunk + lid; r < end; r += WG) {
      acc += X[base + redOffset(r)];
    }
  }
  partial[lid] = acc;
  workgroupBarrier();
  for (var half = WG / 2u; half > 0u; half = half / 2u) {
    if (lid < half) { partial[lid] += partial[lid + half]; }
    workgroupBarrier();
  }
  if (live && lid == 0u) { out[w] = partial[0] * u.scale; }
}
#endif
