// A nearest x2 upsample folded into the following convolution (src/kernels/upconv.ts).
//
// FOLD: the four parity kernels. Output o = 2i + p of the upsampled convolution (kernel K,
// padding P) reads the input at i + floor((p + k - P) / 2) for tap k, so folded tap t (offset
// t - PF) of parity p sums the original taps k = 2(t - PF) + P - p + e, e in {0, 1}, that lie in
// [0, K). The forward gathers those (at most 2 x 2) taps; the backward (BACKWARD) gives each
// original tap the sum of the four folded taps, one per parity, it went into: gathers both ways,
// so no atomics. Weights are small enough to bind whole. A bias [O] is folded as a 1x1 kernel
// ([O,1,1,1], K = 1, P = 0): the forward tiles it over the parities, the backward sums them.
//
// Otherwise the backward of the convolution's depth-to-space store (shaders/conv2d.wgsl, SHUFFLE):
// the gradient at pixel (2i+py, 2j+px) of channel o in [N,O,2H,2W] goes to channel (py*2+px)*O + o
// of [N,4O,H,W], through the activation's derivative (shaders/activation.wgsl, joined) read
// from the layer's output Y at the same pixel. An invocation owns pixel (y, x) of the H x W plane
// for all four parities; the launch is 3-D (x: column, y: row, z: image x O + channel), so no
// invocation divides to find its place (lavapipe scalarises integer division, which made a flat
// index four divisions an element). Images are bound as windows that start on an aligned byte
// offset at or before a dispatch's first image; inBase/outBase are the element offsets of that
// image within the windows (Y's window is the gradient's).

#if FOLD
// Either way up to 8 folds run at once, each a row of this table: its invocations (elements of
// the folded weights forward, of the original ones backward) end at `end` (cumulative), it reads
// A from element `src` and writes B from element `dst`.
struct Fold {
  end: u32,
  src: u32,
  dst: u32,
  O: u32,
  C: u32,
  K: u32,
  KF: u32,
  P: u32,
  PF: u32,
  _a: u32,
  _b: u32,
  _c: u32,
}

struct U {
  n: u32,       // invocations
  folds: u32,
  _a: u32,
  _b: u32,
  f: array<Fold, 8>,
}
#else
struct U {
  planes: u32,  // image x channel planes in this dispatch
  inBase: u32,
  outBase: u32,
  O: u32,       // channels of the [N,O,2H,2W] side
  H: u32,       // plane of the [N,4O,H,W] side
  W: u32,
  _a: u32,
  _b: u32,
}

override WG_X: u32;
override WG_Y: u32;
#endif

@group(0) @binding(0) var<uniform> u: U;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> B: array<f32>;
#if ACT
@group(0) @binding(3) var<storage, read> Y: array<f32>;
#endif

#if FOLD
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
  // Invocation i is element j of the table's row l.
  var l = 0u;
  while (l + 1u < u.folds && i >= u.f[l].end) { l++; }
  let f = u.f[l];
  let j = i - select(0u, u.f[max(l, 1u) - 1u].end, l > 0u);
#if BACKWARD
  // A: folded gradient [4O,C,KF,KF]; B: original gradient [O,C,K,K].
  let kx = j % f.K;
  let ky = (j / f.K) % f.K;
  let oc = j / (f.K * f.K);           // o * C + c
  let o = oc / f.C;
  let c = oc - o * f.C;
  var acc = 0.0;
  for (var q = 0u; q < 4u; q++) {
    // floor((p + k - P) / 2) + PF: an arithmetic shift floors negative offsets too.
    let ty = u32(((i32(q >> 1u) + i32(ky) - i32(f.P)) >> 1u) + i32(f.PF));
    let tx = u32(((i32(q & 1u) + i32(kx) - i32(f.P)) >> 1u) + i32(f.PF));
    acc += A[f.src + (((q * f.O + o) * f.C + c) * f.KF + ty) * f.KF + tx];
  }
  B[f.dst + j] = acc;
#else
  // A: original weights [O,C,K,K]; B: folded [4O,C,KF,KF].
  let tx = j % f.KF;
  let ty = (j / f.KF) % f.KF;
  let mc = j / (f.KF * f.KF);         // (q * O + o) * C + c
  let m = mc / f.C;
  let c = mc - m * f.C;
  let q = m / f.O;
  let o = m - q * f.O;
  let ky0 = 2 * (i32(ty) - i32(f.PF)) + i32(f.P) - i32(q >> 1u);
  let kx0 = 2 * (i32(tx) - i32(f.PF)) + i32(f.P) - i32(q & 1u);
  let K = i32(f.K);
  let plane = f.src + (o * f.C + c) * f.K * f.K;
  var acc = 0.0;
  for (var ey = 0; ey < 2; ey++) {
    let ky = ky0 + ey;
    if (ky < 0 || ky >= K) { continue; }
    for (var ex = 0; ex < 2; ex++) {
      let kx = kx0 + ex;
      if (kx < 0 || kx >= K) { continue; }
      acc += A[plane + u32(ky * K + kx)];
    }
  }
  B[f.dst + j] = acc;
#endif
}
#else
@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  // A: gradient [N,O,2H,2W]; B: gradient [N,4O,H,W]. z is image n (of this dispatch) and channel o.
  let x = gid.x;
  let y = gid.y;
  let z = gid.z;
  if (x >= u.W || y >= u.H || z >= u.planes) { return; }
  let n = z / u.O;
  let o = z - n * u.O;
  let hw = u.H * u.W;
  let src = u.inBase + z * 4u * hw + 2u * y * 2u * u.W + 2u * x;
  let dst = u.outBase + (n * 4u * u.O + o) * hw + y * u.W + x;
  for (var q = 0u; q < 4u; q++) {
    let s = src + (q >> 1u) * 2u * u.W + (q & 1u);
#if ACT
    B[dst + q * u.O * hw] = activateGrad(A[s], Y[s]);
#else
    B[dst + q * u.O * hw] = A[s];
#endif
  }
}
#endif
