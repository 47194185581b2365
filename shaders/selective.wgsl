// The latent clamp and gradient filter of DC-IGN's section 3.2, over z seen as [batch, D]
// (D = features per sample) and processed in element chunks. j = (base + i) % D is a latent's
// index; [start, end) is the pass-through range.
//   CLAMP:   out = z inside the range, z of sample 0 outside it (Z0 binds sample 0's row); with
//            FROM_MEAN, the batch mean outside it (Z0 binds the column sums, count the batch size).
//   MEAN:    running column sums of z over the batch, one invocation per latent, chunk by chunk
//            in dispatch order (deterministic): the batch mean for invariance targeting. With
//            SQUARES, the column sums of z * z as well, into SQ.
//   SPREADS: one invocation: over the batch and the latents outside the range, the sum of
//            squares S and the squared deviation from the batch means W, into SP = (S, W).
//   FILTER:  the backward of the gradient filter: the incoming gradient inside the range;
//            outside it 0, or with INVARIANCE strength * (z - batch mean of z). With RELATIVE,
//            the gradient of strength / 2 * W / s, s = S / (terms in S) the mean square:
//            (strength / s) * ((z - mean) - (W / S) * z). It has no component along z, so
//            shrinking the whole code does not lower it.

struct U {
  n: u32,       // elements in this chunk (MEAN: latents D)
  base: u32,    // global index of the chunk's first element
  D: u32,
  start: u32,
  end: u32,
  count: u32,   // MEAN: elements in this chunk; FILTER and CLAMP with FROM_MEAN: batch size
  first: u32,   // MEAN: 1 on the first chunk, which starts the sums
  strength: f32,
}

@group(0) @binding(0) var<uniform> u: U;
#if CLAMP
@group(0) @binding(1) var<storage, read> Z: array<f32>;
@group(0) @binding(2) var<storage, read> Z0: array<f32>;
@group(0) @binding(3) var<storage, read_write> OUT: array<f32>;
#endif
#if MEAN
@group(0) @binding(1) var<storage, read> Z: array<f32>;
@group(0) @binding(2) var<storage, read_write> SUM: array<f32>;
#if SQUARES
@group(0) @binding(3) var<storage, read_write> SQ: array<f32>;
#endif
#endif
#if SPREADS
@group(0) @binding(1) var<storage, read> SUM: array<f32>;
@group(0) @binding(2) var<storage, read> SQ: array<f32>;
@group(0) @binding(3) var<storage, read_write> SP: array<f32>;
#endif
#if FILTER
@group(0) @binding(1) var<storage, read> G: array<f32>;
#if INVARIANCE
@group(0) @binding(2) var<storage, read> Z: array<f32>;
@group(0) @binding(3) var<storage, read> SUM: array<f32>;
#if RELATIVE
@group(0) @binding(4) var<storage, read> SP: array<f32>;
@group(0) @binding(5) var<storage, read_write> OUT: array<f32>;
#else
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
#endif
#else
@group(0) @binding(2) var<storage, read_write> OUT: array<f32>;
#endif
#endif

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= u.n) { return; }
#if MEAN
  // Latent j's elements in this chunk: global indices b * D + j within [base, base + count).
  let j = i;
  var g = j;
  if (u.base > j) { g = j + ((u.base - j + u.D - 1u) / u.D) * u.D; }
  var acc = 0.0;
  var acc2 = 0.0;
  if (u.first == 0u) {
    acc = SUM[j];
#if SQUARES
    acc2 = SQ[j];
#endif
  }
  for (; g < u.base + u.count; g += u.D) {
    let v = Z[g - u.base];
    acc += v;
    acc2 += v * v;
  }
  SUM[j] = acc;
#if SQUARES
  SQ[j] = acc2;
#endif
#else
#if SPREADS
  var S = 0.0;
  var M = 0.0;
  for (var l = 0u; l < u.D; l++) {
    if (l >= u.start && l < u.end) { continue; }
    S += SQ[l];
    M += SUM[l] * SUM[l];
  }
  SP[0] = S;
  SP[1] = max(S - M / f32(u.count), 0.0);
#else
  let j = (u.base + i) % u.D;
  let through = j >= u.start && j < u.end;
#if CLAMP
#if FROM_MEAN
  OUT[i] = select(Z0[j] / f32(u.count), Z[i], through);
#else
  OUT[i] = select(Z0[j], Z[i], through);
#endif
#else
#if INVARIANCE
#if RELATIVE
  var other = 0.0;
  if (SP[0] > 0.0) {
    let meanSquare = SP[0] / f32(u.count * (u.D - (u.end - u.start)));
    other = (u.strength / meanSquare) * ((Z[i] - SUM[j] / f32(u.count)) - (SP[1] / SP[0]) * Z[i]);
  }
#else
  let other = u.strength * (Z[i] - SUM[j] / f32(u.count));
#endif
#else
  let other = 0.0;
#endif
  OUT[i] = select(other, G[i], through);
#endif
#endif
#endif
}
