// The latent clamp and gradient filter of DC-IGN's section 3.2, over z seen as [batch, D]
// (D = features per sample) and processed in element chunks. j = (base + i) % D is a latent's
// index; [start, end) is the pass-through range.
//   CLAMP:   out = z inside the range, z of sample 0 outside it (Z0 binds sample 0's row); with
//            FROM_MEAN, the batch mean outside it (Z0 binds the column sums, count the batch size).
//   MEAN:    running column sums of z over the batch, one invocation per latent, chunk by chunk
//            in dispatch order (deterministic): the batch mean for invariance targeting.
//   FILTER:  the backward of the gradient filter: the incoming gradient inside the range;
//            outside it 0, or with INVARIANCE strength * (z - batch mean of z).

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
#endif
#if FILTER
@group(0) @binding(1) var<storage, read> G: array<f32>;
#if INVARIANCE
@group(0) @binding(2) var<storage, read> Z: array<f32>;
@group(0) @binding(3) var<storage, read> SUM: array<f32>;
@group(0) @binding(4) var<storage, read_write> OUT: array<f32>;
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
  if (u.first == 0u) { acc = SUM[j]; }
  for (; g < u.base + u.count; g += u.D) {
    acc += Z[g - u.base];
  }
  SUM[j] = acc;
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
  let other = u.strength * (Z[i] - SUM[j] / f32(u.count));
#else
  let other = 0.0;
#endif
  OUT[i] = select(other, G[i], through);
#endif
#endif
}
